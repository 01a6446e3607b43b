// Runs a Python file under Pyodide in Node with the reasoningbank package copied into its FS.
// argv: <pyodide.mjs URL> <package dir> <python file>. The file defines `async def main()`;
// its return value is printed.
import fs from "node:fs";
import path from "node:path";

const [pyodideModule, packageDir, pythonFile] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideModule);
const py = await loadPyodide();
function copy(dir, dest) {
  py.FS.mkdirTree(dest);
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) {
      if (name !== "__pycache__") copy(full, `${dest}/${name}`);
    } else if (name.endsWith(".py")) {
      py.FS.writeFile(`${dest}/${name}`, fs.readFileSync(full));
    }
  }
}
copy(packageDir, "/home/pyodide/reasoningbank");
await py.runPythonAsync(fs.readFileSync(pythonFile, "utf8"));
const result = await py.runPythonAsync("await main()");
process.stdout.write(String(result));
