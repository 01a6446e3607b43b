"""``reasoningbank serve``: the offline PWA on localhost.

Serves, from one origin:

- ``/``: the app (``web/``: page, ``reasoningbank.js``, service worker, manifest);
- ``/pyodide/``: the Pyodide runtime, vendored from npm ``pyodide@PYODIDE_VERSION`` (found
  in ``--pyodide-dir``, ``$REASONINGBANK_PYODIDE_DIR``, a checkout's ``.browser-deps``, or a
  user cache that ``npm`` fills on first use);
- ``/wheels/<hash>/reasoningbank-<version>-py3-none-any.whl``: this very installation packed
  as a wheel at startup, so the browser always runs the code the server runs (the hash in
  the path lets the service worker cache it forever);
- ``/semantic/<hash>/<name>.rbsem``: with the ``[semantic]`` extra installed, its embedding
  table as the browser's quantized asset (``semantic.build_asset``), built once into the user
  cache and fetched by a page only when it asks for it (``ReasoningBank.load({semantic:
  true})``), so it is announced but not pre-cached;
- ``/build-info.json``: where the ones above are, and what the service worker pre-caches;
- ``/simple/reasoningbank/``: a package index of that wheel (PEP 691 JSON / PEP 503 HTML),
  for ``micropip.install`` in Pyodide, PyScript and JupyterLite.

With the neural bus available (the ``[bus]`` extra), it also runs a hub on localhost
(WebTransport, WebSocket for WebKit) that ``build-info.json`` announces to the page, and
links the local SQLite bank to it, so what the browser learns reaches the local bank (from
keys it trusts) and the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .errors import ReasoningBankError, ServeError
from .files import write_private

__all__ = [
    "PYODIDE_VERSION",
    "ServeError",
    "build_wheel",
    "find_pyodide",
    "find_web",
    "make_server",
    "LocalHub",
    "bus_available",
    "semantic_asset",
]

PYODIDE_VERSION = "314.0.7"
#: Pyodide files the app needs offline (the rest of the npm package is not served).
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
_HERE = Path(__file__).resolve().parent

#: Default ports; when one is taken and the user did not ask for it, a free one is used.
DEFAULT_PORT = 8765
DEFAULT_HUB_PORT = 4433
#: Connections the app's HTTP server serves at once (each holds a thread); more get 503.
HTTP_MAX_CONNECTIONS = 64
#: Seconds a connection to the app's HTTP server may stay silent before it is closed.
HTTP_IDLE_TIMEOUT = 20.0
#: Host names the app always answers to (besides the address it is bound to).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def find_web() -> Path:
    """The PWA files: packaged as ``reasoningbank/_web`` in a wheel, or a checkout's ``web/``."""
    for candidate in (_HERE / "_web", _HERE.parent / "web"):
        if (candidate / "index.html").is_file():
            return candidate
    raise ServeError("the web app files are missing from this installation (no web/index.html)")


def _pyodide_ok(path: Path) -> bool:
    try:
        meta = json.loads((path / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("version") == PYODIDE_VERSION and all(
        (path / f).is_file() for f in PYODIDE_FILES
    )


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reasoningbank"


def _cache_dir() -> Path:
    return _cache_root() / f"pyodide-{PYODIDE_VERSION}"


def semantic_asset(cache_dir: Path | None = None) -> Path | None:
    """The browser's semantic asset for the installed ``[semantic]`` extra, or None without it.

    Built once (well under a second) into the user cache, under a name derived from the
    installed weight files and the asset format, so upgrading either rebuilds it.
    """
    from .runtime import has_module

    if not (has_module("wordllama") and has_module("numpy")):
        return None
    from .semantic import ASSET_DIMS, _files, write_asset
    from .semantic_asset import MAGIC

    key = hashlib.sha256(MAGIC + str(ASSET_DIMS).encode())
    for source in _files():
        stat = os.stat(source)
        key.update(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    folder = cache_dir or _cache_root() / "semantic"
    path = folder / f"wordllama-{ASSET_DIMS}-{key.hexdigest()[:16]}.rbsem"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_asset(path, ASSET_DIMS)
    return path


def find_pyodide(explicit: str | None = None, *, fetch: bool = True) -> Path:
    """Directory holding the Pyodide runtime files; installs it with npm into the user cache
    if it is nowhere else and ``fetch`` is true."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("REASONINGBANK_PYODIDE_DIR"):
        candidates.append(Path(os.environ["REASONINGBANK_PYODIDE_DIR"]))
    candidates += [
        _HERE.parent / ".browser-deps" / "node_modules" / "pyodide",
        Path.cwd() / "node_modules" / "pyodide",
        _cache_dir() / "node_modules" / "pyodide",
    ]
    for path in candidates:
        if _pyodide_ok(path):
            return path
    if explicit:
        raise ServeError(
            f"{explicit} does not hold pyodide {PYODIDE_VERSION} ({', '.join(PYODIDE_FILES)})"
        )
    npm = shutil.which("npm")
    if not fetch or npm is None:
        raise ServeError(
            f"Pyodide {PYODIDE_VERSION} not found. Install it with "
            f"`npm install --prefix {_cache_dir()} pyodide@{PYODIDE_VERSION}` "
            "or pass --pyodide-dir DIR"
        )
    target = _cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    print(f"installing pyodide@{PYODIDE_VERSION} into {target} (once) ...", file=sys.stderr)
    done = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(target),
            "--no-audit",
            "--no-fund",
            "--silent",
            f"pyodide@{PYODIDE_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    found = target / "node_modules" / "pyodide"
    if done.returncode != 0 or not _pyodide_ok(found):
        raise ServeError(
            f"npm install pyodide@{PYODIDE_VERSION} failed: {done.stderr.strip()[-500:]}"
        )
    return found


def build_wheel() -> tuple[str, bytes]:
    """(file name, bytes) of the browser wheel of the running code (``browser_wheel.build``):
    browser and server always run the same version."""
    from .browser_wheel import build

    return build()


_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
}


class _Handler(SimpleHTTPRequestHandler):
    """Static files from web/, /pyodide/ from the Pyodide dir, the in-memory wheel."""

    server: _AppServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # silent clients are dropped

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        if self.server.verbose:
            super().log_message(format, *args)

    def parse_request(self) -> bool:
        """Why the Host check: a page of another site whose name resolves to this machine
        (DNS rebinding) would otherwise read the app from its own origin."""
        if not super().parse_request():
            return False
        path = unquote(self.path.split("?", 1)[0], errors="surrogateescape")
        if any(ord(c) < 0x20 or c == "\x7f" for c in path):
            self.send_error(400, "invalid character in the URL path")
            return False
        host = self.headers.get("Host")
        if host is None:
            self.send_error(400, "missing Host header")
            return False
        if not self.server.serves_host(host):
            self.send_error(421, "this server does not serve that host name")
            return False
        return True

    def end_headers(self) -> None:
        # The service worker decides what is fresh; the browser cache must not second-guess
        # it with heuristics (a stale reasoningbank.js beside a new wheel would break).
        self.send_header("Cache-Control", "no-cache")
        if self.path.startswith(("/simple", "/wheels/")):
            # The index and the wheel are public: notebooks and pages of other origins
            # (JupyterLite, PyScript) install from them with micropip.
            self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return _TYPES.get(Path(path).suffix, "application/octet-stream")

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/pyodide/"):
            name = clean[len("/pyodide/") :]
            if name in PYODIDE_FILES:
                return str(self.server.pyodide_dir / name)
            return str(self.server.web_dir / "__missing__")
        return super().translate_path(path)

    def _send(self, body: bytes | Path, content_type: str) -> None:
        """Send bytes held in memory, or a file streamed from disk (never read whole)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        size = len(body) if isinstance(body, bytes) else body.stat().st_size
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        if isinstance(body, bytes):
            self.wfile.write(body)
        else:
            with body.open("rb") as fh:
                shutil.copyfileobj(fh, self.wfile)

    def _generated(self) -> tuple[bytes | Path, str] | None:
        path = self.path.split("?", 1)[0]
        if path == "/build-info.json":
            return self.server.build_info, "application/json"
        if path in ("/simple", "/simple/", "/simple/reasoningbank", "/simple/reasoningbank/"):
            return self._simple_index(project=path.rstrip("/") != "/simple")
        if path == self.server.wheel_path:
            return self.server.wheel, "application/zip"
        if self.server.semantic is not None and path == self.server.semantic[0]:
            return self.server.semantic[1], "application/octet-stream"
        return None

    def _simple_index(self, *, project: bool) -> tuple[bytes, str]:
        """A package index of the one wheel (PEP 691 JSON, or PEP 503 HTML for clients that
        do not ask for JSON): ``micropip.install("reasoningbank", index_urls=[".../simple"])``
        in Pyodide, PyScript or JupyterLite, and ``pip install --index-url``."""
        server = self.server
        name = server.wheel_path.rsplit("/", 1)[1]
        url = server.wheel_path
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
            meta = {"api-version": "1.1"}
            if not project:
                body = {"meta": meta, "projects": [{"name": "reasoningbank"}]}
            else:
                body = {
                    "meta": meta,
                    "name": "reasoningbank",
                    "versions": [name.split("-")[1]],
                    "files": [
                        {"filename": name, "url": url, "hashes": {"sha256": server.wheel_sha256}}
                    ],
                }
            return json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json"
        if project:
            link = f'<a href="{url}#sha256={server.wheel_sha256}">{name}</a>'
        else:
            link = '<a href="reasoningbank/">reasoningbank</a>'
        html = f"<!DOCTYPE html><html><body>{link}</body></html>"
        return html.encode(), "application/vnd.pypi.simple.v1+html"

    def do_GET(self) -> None:
        self.server.requests += 1
        generated = self._generated()
        if generated is None:
            super().do_GET()
        else:
            self._send(*generated)

    def do_HEAD(self) -> None:
        self.server.requests += 1
        generated = self._generated()
        if generated is None:
            super().do_HEAD()
        else:
            self._send(*generated)


def _url_host(host: str) -> str:
    """A host as written in a URL or a Host header: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host.lower()


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8765`` → ``[::1]``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class _AppServer(ThreadingHTTPServer):
    """Why bounded: each connection holds a thread and a file descriptor, so the number of
    connections is capped and silent ones are closed."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that navigates away mid-download, or a client that stalls past the
        # idle timeout, is not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def __init__(
        self,
        address: tuple[str, int],
        web_dir: Path,
        pyodide_dir: Path,
        verbose: bool,
        bus: dict[str, str] | None = None,
        semantic: Path | None = None,
        *,
        max_connections: int = HTTP_MAX_CONNECTIONS,
        idle_timeout: float = HTTP_IDLE_TIMEOUT,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self.idle_timeout = idle_timeout
        # Bind first: a busy port fails fast, before the wheel is built.
        super().__init__(address, partial(_Handler, directory=str(web_dir)))
        try:
            self._describe(web_dir, pyodide_dir, verbose, bus, semantic)
        except BaseException:
            self.server_close()
            raise

    def _describe(
        self,
        web_dir: Path,
        pyodide_dir: Path,
        verbose: bool,
        bus: dict[str, str] | None,
        semantic: Path | None,
    ) -> None:
        self.web_dir = web_dir
        self.pyodide_dir = pyodide_dir
        self.requests = 0  # served so far (tests use it to prove the offline app needs none)
        self.verbose = verbose
        name, self.wheel = build_wheel()
        self.wheel_sha256 = hashlib.sha256(self.wheel).hexdigest()
        digest = self.wheel_sha256[:16]
        self.wheel_path = f"/wheels/{digest}/{name}"
        app = sorted(
            "/" + p.relative_to(web_dir).as_posix()
            for p in web_dir.rglob("*")
            if p.is_file() and p.name != "sw.js" and not p.name.startswith(".")
        )
        info: dict[str, Any] = {
            "version": digest,
            "wheel": self.wheel_path.lstrip("/"),
            "pyodide": "pyodide/",
            "pyodideVersion": PYODIDE_VERSION,
            "precache": ["/", *app, *(f"/pyodide/{f}" for f in PYODIDE_FILES), self.wheel_path],
        }
        if bus:
            info["bus"] = bus
        self.semantic: tuple[str, Path] | None = None
        if semantic is not None:  # announced, not pre-cached: pages fetch it when asked to
            sha = _file_sha256(semantic)[:16]
            self.semantic = (f"/semantic/{sha}/{semantic.name.rsplit('-', 1)[0]}.rbsem", semantic)
            info["semantic"] = self.semantic[0].lstrip("/")
        self.build_info = json.dumps(info, indent=1).encode()

    @property
    def host_names(self) -> frozenset[str]:
        """The names this server answers to in a Host header."""
        return frozenset((*LOOPBACK_NAMES, _url_host(str(self.server_address[0]))))

    @property
    def origins(self) -> frozenset[str]:
        """The app's own web origins: pages from these may use the local hub."""
        port = int(self.server_address[1])
        return frozenset(f"http://{name}:{port}" for name in self.host_names)

    def serves_host(self, header: str) -> bool:
        name = _host_name(header)
        if name in self.host_names:
            return True
        # Bound to every interface: other machines reach it by address. An address cannot
        # be rebound to another site, so any IP literal is safe to answer.
        return str(self.server_address[0]) in ("0.0.0.0", "::") and _is_ip(name)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(partial(fh.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_server(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    pyodide_dir: str | None = None,
    verbose: bool = False,
    bus: dict[str, str] | None = None,
    semantic: bool = True,
    max_connections: int = HTTP_MAX_CONNECTIONS,
    idle_timeout: float = HTTP_IDLE_TIMEOUT,
) -> _AppServer:
    """A ready (bound, not yet serving) app server. ``port=None`` takes ``DEFAULT_PORT``,
    or a free port when that is taken; ``port=0`` picks a free port; a busy port asked for
    explicitly is a ``ServeError``. ``bus`` (``hub``, ``certHash``, ``wsUrl``) is announced
    to the page in ``build-info.json``, and so is the semantic asset when ``semantic`` and
    the ``[semantic]`` extra is installed."""
    asset = None
    try:
        asset = semantic_asset() if semantic else None
    except (ReasoningBankError, OSError) as exc:  # the app works without it: say so, go on
        print(f"reasoningbank serve: no semantic embedder for pages: {exc}", file=sys.stderr)
    web_dir, pyodide = find_web(), find_pyodide(pyodide_dir)

    def bind(number: int) -> _AppServer:
        return _AppServer(
            (host, number),
            web_dir,
            pyodide,
            verbose,
            bus,
            asset,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
        )

    try:
        return bind(DEFAULT_PORT if port is None else port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        if port is not None:
            raise _port_in_use(port, "--port") from exc
    print(f"reasoningbank serve: port {DEFAULT_PORT} is taken; using a free one", file=sys.stderr)
    return bind(0)


def _port_in_use(port: int, option: str) -> ServeError:
    return ServeError(f"port {port} is already in use: choose another with {option} (0 picks one)")


def _hub_certificate(db: str) -> Any:
    """The hub's certificate, kept next to the bank (``<bank>.hub.pem``, mode 0600) and reused
    while it has over two days left, so pages that pinned it keep working across restarts."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from .bus.aio.quic import Certificate, generate_certificate

    if db == ":memory:" or db.startswith("idb://"):
        return generate_certificate()
    path = Path(db + ".hub.pem")
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        pem = path.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, password=None)
        if cert.not_valid_after_utc - now > datetime.timedelta(days=2):
            return Certificate(cert, key)
    except (OSError, ValueError):
        pass  # missing or unreadable: make a new one
    fresh = generate_certificate(now=now)
    pem = fresh.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + fresh.cert.public_bytes(serialization.Encoding.PEM)
    path.parent.mkdir(parents=True, exist_ok=True)  # a first run: the bank is not there yet
    write_private(path, pem)
    return fresh


class LocalHub:
    """A neural-bus hub plus the local bank's link to it, on an asyncio loop in a thread.

    Why private: the hub admits only sessions signed by keys the bank trusts (and the
    bank's own), and browser pages only from the app's own origins (``admit_pages_of``),
    so neither a stranger's client nor another site's page can read the bank."""

    def __init__(self, db: str, host: str, port: int | None, every: float = 5.0) -> None:
        self.db, self.host, self.port, self.every = db, host, port, every
        self.loop = asyncio.new_event_loop()
        self.info: dict[str, str] = {}
        self.bank_key = ""
        self.server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        threading.Thread(target=self._thread, daemon=True).start()
        self._ready.wait(60)
        if isinstance(self._error, ServeError):
            raise self._error
        if self._error is not None:
            raise ServeError(f"the neural-bus hub did not start: {self._error}")

    def admit_pages_of(self, app: _AppServer) -> None:
        """Let pages served by ``app`` (and only those) open sessions from a browser."""
        origins = app.origins
        self.loop.call_soon_threadsafe(setattr, self.server, "origins", origins)

    def _reload_trust(self, link: Any) -> None:
        """Pick up `reasoningbank trust add` / `remove` made while serving: the link imports
        from the keys it trusts, and the hub admits only them (the link and its session
        share one set of trusted keys, updated in place)."""
        from .bus.keys import TrustList

        current = TrustList.load(self.db).as_set(own=link.signer.public_key)
        if link.set_trusted(current):
            self.server.hub.set_allowed(current)

    def _thread(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _start_hub(self, allowed: set[bytes], certificate: Any) -> Any:
        """The hub on ``self.port``: ``None`` takes ``DEFAULT_HUB_PORT``, or a free port
        when that is taken."""
        port = DEFAULT_HUB_PORT if self.port is None else self.port
        server = await self._listen(port, allowed, certificate)
        if server is None:
            if self.port is not None:
                raise _port_in_use(port, "--hub-port")
            print(
                f"reasoningbank serve: hub port {port} is taken; using a free one", file=sys.stderr
            )
            server = await self._listen(0, allowed, certificate)
            assert server is not None, "port 0 is never taken"
        return server

    async def _listen(self, port: int, allowed: set[bytes], certificate: Any) -> Any:
        """A started hub server on ``port``, or None if the port is taken."""
        import secrets

        from .bus.aio import HubServer
        from .bus.hub import Hub
        from .bus.signers import NaclSigner, NaclVerifier

        hub = Hub(
            signer=NaclSigner(secrets.token_bytes(32)),
            verifier=NaclVerifier(),
            nonce_source=secrets.token_bytes,
            allowed=allowed,
        )
        server = HubServer(hub)
        try:
            await server.start(self.host, port, certificate=certificate, origins=())
        except OSError as exc:
            await server.close()
            if exc.errno == errno.EADDRINUSE:
                return None
            raise
        return server

    async def _main(self) -> None:
        from .bank import ReasoningBank
        from .bus.sync import bank_identity

        try:
            certificate = _hub_certificate(self.db)  # first: a first run makes the folder
            bank = await ReasoningBank.open(self.db)
            signer, trust = bank_identity(self.db)
            allowed = trust.as_set(own=signer.public_key)
            self.server = server = await self._start_hub(allowed, certificate)
            if not (server.url and server.cert_sha256 and server.ws_url):
                raise ServeError("the hub has no WebTransport endpoint")
            link = await bank.connect(server.url, cert_hash=server.cert_sha256)
            self.bank_key = link.signer.public_key.hex()
            self.info = {"hub": server.url, "certHash": server.cert_sha256, "wsUrl": server.ws_url}
        except BaseException as exc:  # reported by __init__ on the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:  # share what the bank learns, import what trusted peers sent
            await asyncio.sleep(self.every)
            try:
                self._reload_trust(link)
                await link.sync()
            except Exception as exc:  # a failed round is retried; the app keeps serving
                print(f"reasoningbank serve: bus sync failed: {exc}", file=sys.stderr)


def serve_in_thread(**kwargs: Any) -> tuple[_AppServer, str]:
    """Start a server on a background thread (for tests and benchmarks); returns it and its URL."""
    server = make_server(**kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = str(server.server_address[0]), int(server.server_address[1])
    return server, f"http://{host}:{port}/"


def bus_available() -> bool:
    from .runtime import has_module

    return has_module("aioquic") and has_module("nacl")
