// Stands in for ComfyUI's scripts/api.js shim.
export const api = globalThis.__runcomfyFakes.api;
