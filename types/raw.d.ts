// Lua scripts and other text assets are imported as strings (`./x.lua?raw`); Vite (tests) and
// our esbuild plugin (bundle) both implement the suffix.
declare module '*?raw' {
  const text: string;
  export default text;
}
