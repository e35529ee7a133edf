// Parses Mermaid diagrams with mermaid's own parser: `node mermaid-parse.mjs FILE`, every
// ```mermaid block of a Markdown FILE (a .mmd FILE is one diagram). Prints the diagram type of
// each; exits 1 with mermaid's error on the first that does not parse, or when there is none. Node has no DOM, which mermaid's
// import needs (DOMPurify), so jsdom provides one.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const text = readFileSync(process.argv[2], "utf8");
const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
if (process.argv[2].endsWith(".mmd")) blocks.push(text);
if (blocks.length === 0) {
  console.error(`no mermaid diagram in ${process.argv[2]}`);
  process.exit(1);
}
for (const block of blocks) {
  try {
    const parsed = await mermaid.parse(block);
    console.log(parsed.diagramType);
  } catch (e) {
    console.error(`mermaid cannot parse:\n${block}\n${e.message ?? e}`);
    process.exit(1);
  }
}
