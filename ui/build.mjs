// Copies the UI's browser libraries into the Python package, which serves them itself: dagre
// for the lineage explorer's layout, Swagger UI for /docs. Each is
// shipped as one self-contained file by its project, so there is nothing to bundle.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "headwater", "web", "static", "vendor");
mkdirSync(vendor, { recursive: true });
const modules = join(here, "node_modules");
const files = [
  ["@dagrejs/dagre/dist/dagre.esm.js", "dagre.esm.js"],
  ["@dagrejs/dagre/LICENSE", "dagre.LICENSE"],
  ["swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui-bundle.js"],
  ["swagger-ui-dist/swagger-ui.css", "swagger-ui.css"],
  ["swagger-ui-dist/LICENSE", "swagger-ui.LICENSE"],
];
for (const [from, to] of files) copyFileSync(join(modules, from), join(vendor, to));
console.log(`UI libraries copied to ${vendor}`);
