// States may hold Map and Set, and stream agents store immer patches: enable both plugins once.
import { enableMapSet, enablePatches } from 'immer';

enableMapSet();
enablePatches();
