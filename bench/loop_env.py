"""A deterministic simulated environment for the closed-loop benchmark.

Task families have a hidden right strategy per context and plausible traps. Task texts are
paraphrased and parameterised so memory must generalise across wordings. Every episode's
randomness (task, context, wording, the success roll of each strategy, trajectory noise) comes
from the stream seed alone, so every set-up faces the same episodes and the same luck: the only
difference between set-ups is what memory tells the agent.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

RIGHT_P = 0.9  # a right strategy still fails sometimes
WRONG_P = 0.08  # a trap, or a strategy right only in another context, rarely works


@dataclass(frozen=True)
class Family:
    name: str
    category: str
    templates: tuple[str, ...]  # {ctx} plus parameters
    params: dict[str, tuple[str, ...]]
    contexts: dict[str, tuple[str, ...]]  # context -> phrasings
    right: dict[str, str]  # context -> the strategy that works there
    strategies: dict[str, str]  # name -> the command the agent runs
    prior: dict[str, float]  # how plausible each looks to an agent with no memory
    ok: tuple[str, ...]  # observation lines of a success
    fail: tuple[str, ...]  # observation lines of a failure
    soft: str  # a failing check that prints no error at all


FAMILIES: tuple[Family, ...] = (
    Family(
        "flaky-test",
        "testing",
        (
            "Fix the flaky test {test} in the {lib} suite {ctx}",
            "{test} fails intermittently in CI for {lib} {ctx}; make it reliable",
            "The {lib} test {test} passes locally but randomly fails {ctx}",
        ),
        {
            "test": ("test_checkout", "test_sync_queue", "test_login_flow", "test_export_csv"),
            "lib": ("payments", "inventory", "auth", "reporting"),
        },
        {
            "parallel": ("when tests run in parallel", "under parallel xdist workers"),
            "slow": ("on slow CI runners with a timeout", "when the runner is slow and times out"),
        },
        {"parallel": "isolate-state", "slow": "raise-timeout"},
        {
            "retry-flaky": "pytest --reruns 3 {test}",
            "isolate-state": "pytest -n 4 {test}  # fixture now uses tmp_path and a fresh db",
            "raise-timeout": "pytest --timeout 120 {test}",
            "skip-test": "pytest -k 'not {test}'",
        },
        {"retry-flaky": 3, "isolate-state": 1, "raise-timeout": 1, "skip-test": 1},
        ("50 passed in 12.31s", "ran the suite 20 times: 20/20 green"),
        (
            "FAILED tests/{test}.py::{test} - AssertionError: expected 3 rows, got 4",
            "1 failed, 49 passed in 14.02s",
        ),
        "ran the suite 20 times: 17/20 green",
    ),
    Family(
        "csv-dates",
        "data",
        (
            "Parse the date column of {file} {ctx}",
            "Load {file} into a dataframe; its dates {ctx}",
            "Dates in {file} come out wrong after import {ctx}",
        ),
        {"file": ("orders.csv", "invoices.csv", "shipments.csv", "events_2023.csv")},
        {
            "dayfirst": ("written day first like 03/04/2023", "in European dd/mm/yyyy format"),
            "epoch": ("stored as unix epoch seconds", "given as epoch timestamps"),
        },
        {"dayfirst": "explicit-format", "epoch": "epoch-to-datetime"},
        {
            "infer-dates": "pd.read_csv('{file}', parse_dates=['date'])",
            "explicit-format": "pd.to_datetime(df.date, format='%d/%m/%Y')",
            "epoch-to-datetime": "pd.to_datetime(df.date, unit='s', utc=True)",
            "string-slicing": "df.date.str.slice(0, 10)",
        },
        {"infer-dates": 4, "explicit-format": 1, "epoch-to-datetime": 1, "string-slicing": 1},
        ("validation: 0 rows with out-of-range dates", "check_dates.py: OK (12840 rows)"),
        (
            "ValueError: time data '1681234567' does not match format",
            "validation: 412 rows with month > 12 swapped; check_dates.py exited with code 1",
        ),
        "validation: 412 of 12840 dates land in month 13 or later",
    ),
    Family(
        "deploy-rollout",
        "deploy",
        (
            "Deploy version {ver} of the {svc} service {ctx}",
            "Roll out {svc} {ver} to production {ctx}",
            "Ship release {ver} of {svc} {ctx}",
        ),
        {
            "svc": ("billing", "search", "notifications", "gateway"),
            "ver": ("2.4.1", "3.0.0", "1.9.7"),
        },
        {
            "migration": ("with a database schema migration", "that changes the db schema"),
            "stateless": ("with no schema change", "as a stateless config-only release"),
        },
        {"migration": "blue-green", "stateless": "rolling-update"},
        {
            "restart-pods": "kubectl delete pods -l app={svc}",
            "rolling-update": "kubectl set image deploy/{svc} {svc}={svc}:{ver}",
            "blue-green": "deploy green stack {svc}:{ver}, run migration, switch the router",
            "scale-up": "kubectl scale deploy/{svc} --replicas=12",
        },
        {"restart-pods": 2, "rolling-update": 3, "blue-green": 1, "scale-up": 1},
        ('deployment "{svc}" successfully rolled out', "smoke tests: 14/14 passed, HTTP 200"),
        (
            'error: deployment "{svc}" exceeded its progress deadline',
            "smoke tests: HTTP 502 from /health; rollback triggered, exit code 1",
        ),
        "rollout paused at 3 of 12 pods; readiness probe not passing for 10 minutes",
    ),
    Family(
        "memory-leak",
        "performance",
        (
            "Find the memory leak in the {svc} worker {ctx}",
            "RSS of {svc} grows until it is OOM-killed {ctx}",
            "The {svc} process keeps using more memory over time {ctx}",
        ),
        {"svc": ("thumbnailer", "ingest", "mailer", "scheduler")},
        {
            "python": ("written in Python", "a Python celery task"),
            "node": ("written in Node.js", "a Node express service"),
        },
        {"python": "tracemalloc-diff", "node": "heap-snapshot"},
        {
            "raise-memory-limit": "kubectl set resources deploy/{svc} --limits=memory=4Gi",
            "tracemalloc-diff": "python -X tracemalloc=25 soak.py; compare two snapshots",
            "heap-snapshot": "node --inspect soak.js; diff two heap snapshots",
            "nightly-restart": "add a cron job restarting {svc} nightly",
        },
        {"raise-memory-limit": 3, "tracemalloc-diff": 1, "heap-snapshot": 1, "nightly-restart": 2},
        ("soak test 2h: RSS flat at 212 MB", "leak fixed: cache now bounded, RSS stable"),
        (
            "soak test 2h: RSS 3.9 GB and rising; OOMKilled (exit code 137)",
            "MemoryError after 95 minutes of soak",
        ),
        "soak test 2h: RSS went from 210 MB to 3.1 GB",
    ),
    Family(
        "dependency-conflict",
        "build",
        (
            "Resolve the dependency conflict between {a} and {b} {ctx}",
            "pip install fails: {a} and {b} need incompatible versions {ctx}",
            "Installing {a} together with {b} breaks the build {ctx}",
        ),
        {"a": ("requests", "protobuf", "numpy", "urllib3"), "b": ("botocore", "grpcio", "scipy")},
        {
            "app": ("in an application with a lockfile", "for our deployed app's lockfile"),
            "library": ("in a library we publish", "for a package other projects install"),
        },
        {"app": "pin-lockfile", "library": "widen-range"},
        {
            "force-reinstall": "pip install --force-reinstall {a} {b}",
            "pin-lockfile": "pip-compile --upgrade-package {a} && pip-sync",
            "widen-range": "set {a}>=2,<4 in pyproject and test the matrix",
            "upgrade-all": "pip install -U $(pip freeze | cut -d= -f1)",
        },
        {"force-reinstall": 3, "pin-lockfile": 1, "widen-range": 1, "upgrade-all": 2},
        ("pip check: No broken requirements found.", "tox: all 6 environments passed"),
        (
            "ERROR: ResolutionImpossible: {a} conflicts with {b}",
            "pip check: {b} has requirement {a}<2, but you have {a} 2.31; exit status 1",
        ),
        "{b} requires {a}<2, but {a} 2.31 is installed",
    ),
    Family(
        "slow-query",
        "database",
        (
            "Speed up the slow query on the {table} table {ctx}",
            "The {table} report query takes 40 seconds {ctx}",
            "Optimise the SQL behind the {table} dashboard {ctx}",
        ),
        {"table": ("orders", "sessions", "audit_log", "customers")},
        {
            "filter": (
                "that filters on an unindexed column",
                "doing a WHERE on a column with no index",
            ),
            "nplus1": ("called once per row from the ORM", "issued in a loop by the ORM (N+1)"),
        },
        {"filter": "add-index", "nplus1": "batch-prefetch"},
        {
            "add-cache": "wrap the query in a redis cache for 5 minutes",
            "add-index": "CREATE INDEX CONCURRENTLY ON {table}(created_at)",
            "batch-prefetch": "use select_related/prefetch_related for {table}",
            "raise-work-mem": "SET work_mem = '512MB'",
        },
        {"add-cache": 3, "add-index": 2, "batch-prefetch": 1, "raise-work-mem": 2},
        ("EXPLAIN ANALYZE: Execution Time: 38.2 ms", "p95 latency 41 ms; benchmark passed"),
        (
            "EXPLAIN ANALYZE: Seq Scan on {table}; Execution Time: 39811.0 ms",
            "p95 latency still 38 s; benchmark failed (threshold 500 ms)",
        ),
        "EXPLAIN ANALYZE: Execution Time: 39211.4 ms (unchanged)",
    ),
    Family(
        "merge-conflict",
        "vcs",
        (
            "Resolve the merge conflict in {path} {ctx}",
            "git merge of {branch} stops with a conflict {ctx}",
            "Rebase {branch} onto main; it conflicts {ctx}",
        ),
        {"path": ("src/app", "web", "api"), "branch": ("feature/search", "fix/login", "deps-bump")},
        {
            "lockfile": ("in package-lock.json", "only in the lockfile"),
            "source": ("in hand-written source files", "in two edited source modules"),
        },
        {"lockfile": "regenerate-lockfile", "source": "three-way-merge"},
        {
            "take-ours": "git checkout --ours . && git add -A",
            "regenerate-lockfile": "git checkout main -- package-lock.json && npm install",
            "three-way-merge": "git mergetool; resolve each hunk; run the tests",
            "take-theirs": "git checkout --theirs . && git add -A",
        },
        {"take-ours": 3, "regenerate-lockfile": 1, "three-way-merge": 1, "take-theirs": 2},
        ("merge committed; CI: all checks passed", "npm test: 212 passing"),
        (
            "npm ERR! code EINTEGRITY; npm ci exited with code 1",
            "CI: 7 failing tests after the merge; the feature from {branch} is gone",
        ),
        "merge committed; the change from {branch} no longer appears in the diff",
    ),
    Family(
        "rate-limit",
        "integration",
        (
            "Our sync job against the {api} API gets throttled {ctx}",
            "Calls to {api} fail with rate-limit errors {ctx}",
            "Make the {api} importer stop hitting limits {ctx}",
        ),
        {"api": ("GitHub", "Stripe", "Shopify", "Zendesk")},
        {
            "burst": ("with HTTP 429 and a Retry-After header", "in short bursts of 429 responses"),
            "quota": (
                "because the daily quota runs out",
                "after exhausting the daily request quota",
            ),
        },
        {"burst": "backoff-retry-after", "quota": "cache-responses"},
        {
            "more-parallelism": "raise the worker pool from 4 to 32",
            "backoff-retry-after": "sleep for Retry-After with exponential backoff and jitter",
            "cache-responses": "cache GET responses with ETag; fetch only changed records",
            "rotate-keys": "round-robin over 5 API keys",
        },
        {"more-parallelism": 2, "backoff-retry-after": 2, "cache-responses": 1, "rotate-keys": 2},
        ("sync finished: 18420 records, 0 errors", "importer run: completed without 429s"),
        (
            "HTTPError: 429 Too Many Requests (quota exceeded); sync aborted",
            "403 Forbidden: key suspended for abuse; job exit code 1",
        ),
        "sync stopped at 4200 of 18420 records until the quota resets",
    ),
    Family(
        "tls-error",
        "network",
        (
            "The {client} client fails with a certificate error calling {host} {ctx}",
            "SSL: CERTIFICATE_VERIFY_FAILED when {client} talks to {host} {ctx}",
            "Fix TLS verification for requests from {client} to {host} {ctx}",
        ),
        {"client": ("backup", "metrics", "crm-sync"), "host": ("vault.internal", "api.partner.io")},
        {
            "private-ca": ("signed by our internal CA", "behind the company's private CA"),
            "expired": (
                "whose certificate expired yesterday",
                "with an expired server certificate",
            ),
        },
        {"private-ca": "add-ca-bundle", "expired": "renew-certificate"},
        {
            "disable-verify": "requests.get(url, verify=False)",
            "add-ca-bundle": "export REQUESTS_CA_BUNDLE=/etc/ssl/company-ca.pem",
            "renew-certificate": "certbot renew --cert-name {host} && reload nginx",
            "downgrade-tls": "force TLSv1.0 in the client",
        },
        {"disable-verify": 4, "add-ca-bundle": 1, "renew-certificate": 1, "downgrade-tls": 1},
        ("curl -v https://{host}: SSL certificate verify ok", "{client} job: completed, exit 0"),
        (
            "ssl.SSLCertVerificationError: certificate verify failed; exit code 1",
            "security scan: verify=False is forbidden (rule TLS-001); pipeline failed",
        ),
        "{client} job: 0 of 30 calls got through the handshake",
    ),
)


@dataclass(frozen=True)
class Episode:
    index: int
    family: str
    category: str
    context: str
    task: str
    options: tuple[str, ...]  # the strategies the agent may choose from, in a shuffled order
    params: dict[str, str]
    seed: int

    def succeeds(self, strategy: str) -> bool:
        """The hidden outcome; the same for every set-up (common random numbers)."""
        family = FAMILY[self.family]
        p = RIGHT_P if family.right[self.context] == strategy else WRONG_P
        return _unit(self.seed, "outcome", strategy) < p


FAMILY = {f.name: f for f in FAMILIES}


def _unit(seed: int, *parts: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts (stable across processes)."""
    h = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def episodes(n: int, seed: int = 0) -> list[Episode]:
    """The stream: families interleaved at random, each task freshly worded."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        family = rng.choice(FAMILIES)
        context = rng.choice(sorted(family.contexts))
        params = {k: rng.choice(v) for k, v in sorted(family.params.items())}
        template = rng.choice(family.templates)
        task = template.format(ctx=rng.choice(family.contexts[context]), **params)
        options = sorted(family.strategies)
        rng.shuffle(options)
        out.append(
            Episode(
                i,
                family.name,
                family.category,
                context,
                task,
                tuple(options),
                params,
                rng.getrandbits(32),
            )
        )
    return out


_WON = (
    "Final: the task is complete and the checks pass.",
    "Final: done; verified with the checks above.",
    "Final: fixed, and the checks are green now.",
)
_LOST = (
    "Final: stopping here; the checks do not pass yet.",
    "Final: this did not fix it; the problem persists.",
    "Final: I could not complete the task with this approach.",
)


def trajectory(episode: Episode, strategy: str) -> tuple[str, bool]:
    """What the agent's attempt looks like, and whether it truly succeeded.

    Signals are realistic and imperfect: a fifth of the successes pass through a recovered
    error on the way, and a fifth of the failures are quiet: the command exits 0 and only
    the failing check's numbers, and the agent's own summary, tell that it did not work.
    """
    family = FAMILY[episode.family]
    success = episode.succeeds(strategy)
    fill = dict(episode.params)

    def fmt(text: str) -> str:
        return text.format(**fill)

    noise = _unit(episode.seed, "noise", strategy)
    final = _unit(episode.seed, "final", strategy)
    action = f"Action: {strategy}: $ {fmt(family.strategies[strategy])}"
    lines = [
        f"Task: {episode.task}",
        f"Thought: {strategy} looks like the most direct fix.",
        action,
    ]
    if success:
        if noise < 0.2:  # a recovered hiccup on the way
            lines += [
                "Observation: error: connection reset by peer (exit code 1)",
                "Thought: transient; running it again.",
                action,
            ]
        lines += [f"Observation: {fmt(o)}" for o in family.ok]
        lines += ["Observation: exit code 0", _WON[int(final * len(_WON))]]
    else:
        if noise < 0.2:  # quiet: nothing errors, the check's numbers are simply bad
            lines += [f"Observation: {fmt(family.soft)}", "Observation: exit code 0"]
        else:
            lines += [f"Observation: {fmt(o)}" for o in family.fail]
            lines.append("Observation: exit code 1")
        lines.append(_LOST[int(final * len(_LOST))])
    return "\n".join(lines), success
