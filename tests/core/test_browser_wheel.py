import ast
import io
import subprocess
import sys
import textwrap
import zipfile

from reasoningbank.browser_wheel import CPYTHON_ONLY, build, minify


def _wheel() -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(build()[1]))


def test_browser_wheel_is_small_and_leaves_out_cpython_only_tools():
    name, data = build()
    assert name.endswith("-py3-none-any.whl")
    assert len(data) <= 150 * 1024  # build_wheel.sh's budget (the closed loop runs in browsers)
    names = set(_wheel().namelist())
    assert not names & CPYTHON_ONLY
    assert {
        "reasoningbank/bank.py",
        "reasoningbank/loop/engine.py",
        "reasoningbank/loop/prompts/judge.txt",
        "storage_idb/store.py",
        "transport_webtransport/link.py",
    } <= names


def test_browser_modules_never_import_a_left_out_module():
    """Every import in the wheel (module level or inside functions) resolves inside it, but
    for CPython-only methods that refuse to run in a browser with a clear error."""
    allowed = {("reasoningbank/bank.py", "reasoningbank.bus.sync")}
    wheel = _wheel()
    modules = {
        n[:-3].replace("/", ".").removesuffix(".__init__")
        for n in wheel.namelist()
        if n.endswith(".py")
    }
    left_out = {n[:-3].replace("/", ".") for n in CPYTHON_ONLY}
    for name in wheel.namelist():
        if not name.endswith(".py"):
            continue
        package = (
            name[:-3].replace("/", ".").rsplit(".", 1)[0]
            if not name.endswith("__init__.py")
            else name[:-12].replace("/", ".")
        )
        for node in ast.walk(ast.parse(wheel.read(name))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                targets = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if (name, targets[0]) in allowed:
                    continue
                assert t not in left_out, f"{name} imports {t}, which the browser wheel leaves out"
                if t.split(".")[0] in ("reasoningbank", "storage_idb", "transport_webtransport"):
                    assert t in modules or t.rsplit(".", 1)[0] in modules, f"{name}: {t} missing"


def test_minify_blanks_docstrings_and_comments_but_keeps_lines():
    source = textwrap.dedent('''\
        """Module doc → with a non-ASCII arrow."""
        import math  # a comment


        def f(x):
            """Multi
            line."""
            return math.sqrt(x)  # why
        ''')
    out = minify(source)
    assert len(out.splitlines()) == len(source.splitlines())
    assert "comment" not in out and "Multi" not in out and "arrow" not in out
    namespace: dict = {}
    exec(compile(out, "m", "exec"), namespace)
    assert namespace["f"](9) == 3.0


def test_minify_indents_one_space_a_level_but_leaves_strings_alone():
    source = textwrap.dedent('''\
        class A:
            def f(self, x):
                if x:
                    text = """keep
                    these    spaces"""
                    return (text,
                            x)
                return None
        ''')
    out = minify(source)
    assert out.splitlines()[2] == "  if x:"
    inner = next(line for line in source.splitlines() if "these" in line)
    assert inner in out.splitlines()  # inside a string: as it was
    namespace: dict = {}
    exec(compile(out, "m", "exec"), namespace)
    assert namespace["A"]().f(1) == ("keep\n" + inner.split('"""')[0], 1)


def test_the_browser_wheel_runs_the_core(tmp_path):
    with _wheel() as wheel:
        wheel.extractall(tmp_path)
    code = textwrap.dedent("""
        import sys, asyncio
        for name in ("numpy", "nacl", "aioquic", "mcp"):
            sys.modules[name] = None
        from reasoningbank import ReasoningBank
        async def main():
            bank = await ReasoningBank.open(":memory:")
            pid = await bank.store_pattern({"task_description": "add oauth token refresh",
                "task_category": "b", "strategy": "s", "success_score": 0.9})
            hits = await bank.find_similar("refresh oauth tokens")
            print(hits[0].pattern.id == pid, ReasoningBank.__module__)
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True reasoningbank"
