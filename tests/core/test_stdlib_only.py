import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_core_works_with_the_standard_library_alone():
    """As in Pyodide: numpy, nacl, aioquic and mcp unavailable; the bank still works."""
    code = textwrap.dedent("""
        import sys
        for name in ("numpy", "nacl", "aioquic", "mcp", "cryptography"):
            sys.modules[name] = None  # makes any import of it fail
        import asyncio
        from reasoningbank import ReasoningBank
        async def main():
            bank = await ReasoningBank.open(":memory:")
            await bank.store_pattern({"task_description": "oauth refresh", "task_category": "b",
                                      "strategy": "s", "success_score": 1.0, "embedding": [1.0, 0.5]})
            hits = await bank.find_similar("oauth", embedding=[1.0, 0.4])
            stats = await bank.get_stats()
            print(len(hits), stats["index"]["vector_backend"])
        asyncio.run(main())
        loaded = sorted(m for m in ("numpy", "nacl", "aioquic", "mcp") if sys.modules.get(m))
        print(loaded)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["1 python", "[]"]
