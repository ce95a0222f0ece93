// Copies the UI's browser libraries into the Python package, which serves them itself.
// dagre's ES module build is self-contained (graphlib included), so there is nothing to bundle.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "headwater", "web", "static", "vendor");
mkdirSync(vendor, { recursive: true });
const dagre = join(here, "node_modules", "@dagrejs", "dagre");
copyFileSync(join(dagre, "dist", "dagre.esm.js"), join(vendor, "dagre.esm.js"));
copyFileSync(join(dagre, "LICENSE"), join(vendor, "dagre.LICENSE"));
console.log(`UI libraries copied to ${vendor}`);
