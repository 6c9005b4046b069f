// Vite handles CSS imports (bundled into dist/ui).
declare module '*.css';
