// Stands in for ComfyUI's scripts/app.js shim: the test puts the fake app on globalThis first.
export const app = globalThis.__runcomfyFakes.app;
