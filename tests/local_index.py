"""A package index made by a test: a PEP 503 simple index for pip and a static npm registry.

    with LocalIndex(tmp_path / "index") as index:
        index.add_wheel("tk-pin-probe", "1.0")          # pip: PIP_INDEX_URL=index.pip_url
        index.add_npm("tk-pin-probe", "1.0.0")          # npm: NPM_CONFIG_REGISTRY=index.npm_url
        ...
        index.add_wheel("tk-pin-probe", "2.0")          # the index now serves a newer version

Each package is a tiny one made here whose code tells its own version, so a test sees
which version was installed without depending on anything a public index serves.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalIndex:
    """Serves `root` on 127.0.0.1 (a free port) from a thread, while in a `with` block."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=root))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._npm: dict[str, dict[str, Any]] = {}

    @property
    def pip_url(self) -> str:
        """The `--index-url` (`PIP_INDEX_URL`) of the simple index."""
        return f"{self.url}/simple/"

    @property
    def npm_url(self) -> str:
        """The npm registry (`NPM_CONFIG_REGISTRY`)."""
        return f"{self.url}/npm/"

    def __enter__(self) -> LocalIndex:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    # -- pip -------------------------------------------------------------------------

    def add_wheel(self, project: str, version: str) -> None:
        """Serve a wheel of `project` whose module's `VERSION` is `version`."""
        module = project.replace("-", "_")
        files = {
            f"{module}/__init__.py": f"VERSION = {version!r}\n",
            f"{module}-{version}.dist-info/METADATA": (
                f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
            ),
            f"{module}-{version}.dist-info/WHEEL": (
                "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            ),
        }
        record = f"{module}-{version}.dist-info/RECORD"
        lines = [
            f"{path},sha256={_b64(hashlib.sha256(text.encode()).digest())},{len(text)}"
            for path, text in files.items()
        ] + [f"{record},,"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as wheel:
            for path, text in {**files, record: "\n".join(lines) + "\n"}.items():
                wheel.writestr(path, text)
        files_dir = self.root / "files"
        files_dir.mkdir(exist_ok=True)
        (files_dir / f"{module}-{version}-py3-none-any.whl").write_bytes(buffer.getvalue())
        self._write_simple(project, module)

    def _write_simple(self, project: str, module: str) -> None:
        links = []
        for wheel in sorted((self.root / "files").glob(f"{module}-*.whl")):
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            href = html.escape(f"/files/{wheel.name}#sha256={digest}")
            links.append(f'<a href="{href}">{html.escape(wheel.name)}</a><br>')
        page = self.root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")

    # -- npm -------------------------------------------------------------------------

    def add_npm(self, name: str, version: str) -> None:
        """Serve npm package `name`@`version`, whose `index.js` exports `{version}`."""
        package = {"name": name, "version": version, "main": "index.js"}
        members = {
            "package/package.json": json.dumps(package).encode(),
            "package/index.js": f"exports.version = {json.dumps(version)};\n".encode(),
        }
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path, data in members.items():
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        tarball = buffer.getvalue()
        tarball_name = f"{name}-{version}.tgz"
        (self.root / "tarballs").mkdir(exist_ok=True)
        (self.root / "tarballs" / tarball_name).write_bytes(tarball)
        versions = self._npm.setdefault(name, {})
        versions[version] = {
            **package,
            "dist": {
                "tarball": f"{self.url}/tarballs/{tarball_name}",
                "shasum": hashlib.sha1(tarball).hexdigest(),  # noqa: S324 - npm's format
                "integrity": "sha512-"
                + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
            },
        }
        latest = max(versions, key=lambda v: tuple(int(part) for part in v.split(".")))
        packument = {"name": name, "dist-tags": {"latest": latest}, "versions": versions}
        (self.root / "npm").mkdir(exist_ok=True)
        (self.root / "npm" / name).write_text(json.dumps(packument))


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
