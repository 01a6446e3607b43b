"""web/reasoningbank.d.ts and web/sync.d.ts: an example page type-checks with ``tsc
--strict``, and the declarations name every export and method reasoningbank.js, sync.js and
the Python dispatcher (reasoningbank.jsapi) have, so the types cannot fall behind the API."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from browsers import DEPS, ROOT

from reasoningbank.jsapi import METHODS

WEB = ROOT / "web"
#: The closed-loop calls (DESIGN §2b) the JS API offers.
LOOP_CALLS = {"learn", "retrieve", "memoryPrompt"}

LIST_JS = """
const [url, name] = process.argv.slice(1);
const mod = await import(url);
const own = (obj) => Object.getOwnPropertyNames(obj).filter((n) => n !== "constructor"
  && !n.startsWith("_") && !["length", "name", "prototype"].includes(n));
console.log(JSON.stringify({
  exports: Object.keys(mod),
  statics: own(mod[name]),
  methods: own(mod[name].prototype),
}));
"""
#: Each module of the JS API, its main class, and the names TypeScript code imports it by.
MODULES = {"reasoningbank": "ReasoningBank", "sync": "BusSync"}


def tsc() -> str:
    path = DEPS / "node_modules" / ".bin" / "tsc"
    if not path.exists():
        pytest.fail("typescript is missing: run scripts/install-test-deps.sh")
    return str(path)


def js_api_names(tmp_path: Path, name: str = "reasoningbank") -> dict[str, list[str]]:
    """What web/NAME.js really exports, read by importing it in Node."""
    for js in WEB.glob("*.js"):  # its imports resolve beside it
        shutil.copy(js, tmp_path / js.name.replace(".js", ".mjs"))
    module = tmp_path / f"{name}.mjs"
    module.write_text(
        module.read_text(encoding="utf-8").replace('.js";', '.mjs";'), encoding="utf-8"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", LIST_JS, module.as_uri(), MODULES[name]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def check_types(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "check.ts").write_text(source, encoding="utf-8")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "es2022",
            "module": "es2022",
            "moduleResolution": "bundler",
            "lib": ["es2022", "dom"],
            "skipLibCheck": False,
        },
        "files": [str(tmp_path / "check.ts"), str(ROOT / "tests" / "browser" / "types_example.ts")],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [tsc(), "-p", str(tmp_path / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )


def names_source(names: dict[str, list[str]], name: str = "reasoningbank") -> str:
    """TypeScript that compiles only if the .d.ts declares every name (tsc compares them)."""
    methods = set(names["methods"])
    if name == "reasoningbank":
        methods |= (set(METHODS) - {"open"}) | LOOP_CALLS
    cls, module = MODULES[name], (WEB / name).as_posix()
    return (
        f'import type * as {name} from "{module}.js";\n'
        f"export const {name}Exports: (keyof typeof {name})[] = {json.dumps(names['exports'])};\n"
        f"export const {name}Statics: (keyof typeof {name}.{cls})[] = {json.dumps(names['statics'])};\n"
        f"export const {name}Methods: (keyof {name}.{cls})[] = {json.dumps(sorted(methods))};\n"
    )


def test_types_cover_every_js_api_call_and_type_check_strict(tmp_path):
    names = js_api_names(tmp_path)
    assert {"ReasoningBank", "ReasoningBankError", "runtime", "default"} <= set(names["exports"])
    assert {"storePattern", "findSimilar", "recordOutcome", "close"} <= set(names["methods"])
    sync = js_api_names(tmp_path, "sync")
    assert {"BusSync", "BusSyncError", "attach"} <= set(sync["exports"])
    assert {"start", "identity"} <= set(sync["statics"]) and "status" in sync["methods"]
    source = names_source(names) + names_source(sync, "sync")
    result = check_types(tmp_path, source)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_method_missing_from_the_types_fails_the_check(tmp_path):
    """The name check can fail: a JS method the .d.ts lacks is a tsc error naming it."""
    names = js_api_names(tmp_path)
    names["methods"] = [*names["methods"], "rememberEverything"]
    result = check_types(tmp_path, names_source(names))
    assert result.returncode != 0 and "rememberEverything" in result.stdout, result.stdout
