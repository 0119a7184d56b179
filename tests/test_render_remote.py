"""Remote bases (issue 8, "nothing beyond the repository"): whoever can push must not make
gitbot's host fetch URLs of their choosing.

The gitops-istio layout, with a directory `istio/system/remote` that Flux's generated
kustomization of the istio-system Kustomization builds. Every fetch kubectl could make lands
on one loopback listener: the URLs name it, and it is the http(s) proxy of the process (kubectl
and its git honour HTTPS_PROXY), so `github.com/...` reaches it too and no test touches the
network. By default (`security.remoteBases: false`) each reference shape, in each place
kustomize loads from, costs the istio-system Kustomization alone with one exact problem, and
the listener is never contacted: the refusal comes before kubectl. With the key true, https to
a public host name is fetched (the proxy sees kubectl's CONNECT, at every render: never cached)
and everything else is refused the same way, loopback https included.
"""

from __future__ import annotations

import shutil
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from click.testing import CliRunner
from gitfixtures import make_remote

from gitbot.adapters.flux_specs import load_flux_specs
from gitbot.adapters.render import inputs, remote
from gitbot.adapters.render.cache import RenderCache
from gitbot.adapters.render.model import FluxKustomization, RenderedObject, SourceRef
from gitbot.cli import cli
from gitbot.config import load_settings

LAYOUT = Path(__file__).parent / "data" / "flux_layouts" / "gitops-istio"
GOLDEN = Path(__file__).parent / "data" / "golden" / "flux" / "remote_base_refused.txt"
REMOTE_DIR = "istio/system/remote"
KUSTOMIZATION = f"{REMOTE_DIR}/kustomization.yaml"
SYSTEM = "clusters/my-cluster/istio.yaml:1: Kustomization flux-system/istio-system"
PATH = "  path: ./istio/system\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  a: b\n"
LOST = ("Kustomization flux-system/istio-system (clusters/my-cluster/istio.yaml:1) is not "
        "rendered and its objects are missing")
REFUSED = (f"gitbot does not fetch remote bases (security.remoteBases: false, as Flux's "
           f"kustomize-controller --no-remote-bases), so {LOST}; set security.remoteBases: true "
           "in gitbot's config to fetch them over https")
HTTPS_ONLY = (f"; with security.remoteBases: true gitbot fetches remote bases only over https "
              f"from a public host name, so {LOST}")


class Listener(socketserver.ThreadingTCPServer):
    """127.0.0.1:<free port>: records the first line of every connection, answers 403."""

    daemon_threads = True

    def __init__(self) -> None:
        self.lines: list[str] = []
        lines = self.lines

        class Handler(socketserver.StreamRequestHandler):
            timeout = 5

            def handle(self) -> None:
                lines.append(self.rfile.readline(4096).decode(errors="replace").strip())
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    with Listener() as server:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                     "all_proxy"):
            monkeypatch.setenv(name, server.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        yield server


def repository(tmp_path: Path, files: dict[str, str], url: str) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(LAYOUT, root)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.startswith("clusters/"):  # added to the istio-system Kustomization's spec
            text = path.read_text(encoding="utf-8").replace(PATH, PATH + text)
        path.write_text(text.replace("{url}", url), encoding="utf-8")
    return root


def problems(root: Path, remote_bases: bool = False,
             cache: RenderCache | None = None) -> list[str]:
    """The problems of the render; the canary of another Kustomization always loads."""
    specs = load_flux_specs(root, None, cache=cache, remote_bases=remote_bases)
    assert specs is not None
    assert [c.key for c in specs.canaries] == ["prod/backend"]
    assert specs.flux is not None
    rendered = {r.kustomization.key for r in specs.flux.view.kustomizations}
    assert {"flux-system/apps", "flux-system/istio-gateway"} <= rendered
    return [str(p) for p in specs.problems]


def one_resource(entry: str) -> dict[str, str]:
    return {KUSTOMIZATION: f"resources:\n  - {entry}\n"}


SHAPES = [
    pytest.param("https://127.0.0.1:{port}/org/repo//deploy?ref=v1", id="https-git-url"),
    pytest.param("{url}/org/repo//deploy?ref=v1", id="http-git-url"),
    pytest.param("{url}/cm.yaml", id="http-file-url"),
    pytest.param("ssh://git@127.0.0.1:{port}/org/repo//deploy", id="ssh-url"),
    pytest.param("git@127.0.0.1:org/repo//deploy", id="scp-git-at"),
    pytest.param("deploy@127.0.0.1:org/repo//deploy", id="scp-user-at"),
    pytest.param("github.com/org/repo//deploy?ref=v1", id="github-shorthand"),
    pytest.param("github.com:org/repo//deploy", id="github-colon"),
    pytest.param("gitlab.com/org/repo//deploy", id="gitlab-shorthand"),
    pytest.param("git::{url}/org/repo//deploy", id="forced-git"),
    pytest.param("gh:org/repo//deploy", id="gh-shorthand"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_of_remote_reference_is_refused_before_kubectl(
        tmp_path: Path, listener: Listener, shape: str) -> None:
    entry = shape.replace("{port}", str(listener.server_address[1]))
    root = repository(tmp_path, one_resource(entry), listener.url)
    value = entry.replace("{url}", listener.url).replace("//git@", "//***@")  # redacted
    assert problems(root) == [
        f"{KUSTOMIZATION}:2: kustomization: resources[0]: {value!r} is remote: {REFUSED}"]
    assert listener.lines == []


PLACES = [
    pytest.param(one_resource("{url}/org/repo//deploy?ref=v1"),
                 f"{KUSTOMIZATION}:2: kustomization: resources[0]", "{url}/org/repo//deploy?ref=v1",
                 id="resources"),
    pytest.param({KUSTOMIZATION: "bases:\n  - {url}/org/repo//base\n"},
                 f"{KUSTOMIZATION}:2: kustomization: bases[0]", "{url}/org/repo//base",
                 id="bases"),
    pytest.param({KUSTOMIZATION: "resources:\n  - cm.yaml\ncomponents:\n  - {url}/org/c\n",
                  f"{REMOTE_DIR}/cm.yaml": CM},
                 f"{KUSTOMIZATION}:4: kustomization: components[0]", "{url}/org/c",
                 id="components"),
    pytest.param({KUSTOMIZATION: "resources:\n  - cm.yaml\npatches:\n  - path: {url}/p.yaml\n",
                  f"{REMOTE_DIR}/cm.yaml": CM},
                 f"{KUSTOMIZATION}:4: kustomization: patches[0].path", "{url}/p.yaml",
                 id="patch-path"),
    pytest.param({KUSTOMIZATION: "resources:\n  - cm.yaml\npatchesStrategicMerge:\n"
                  "  - {url}/p.yaml\n", f"{REMOTE_DIR}/cm.yaml": CM},
                 f"{KUSTOMIZATION}:4: kustomization: patchesStrategicMerge[0]", "{url}/p.yaml",
                 id="patches-strategic-merge"),
    pytest.param({KUSTOMIZATION: "configMapGenerator:\n  - name: conf\n    files:\n"
                  "      - app.properties={url}/app.properties\n"},
                 f"{KUSTOMIZATION}:4: kustomization: configMapGenerator[0].files[0]",
                 "{url}/app.properties", id="generator-file"),
    pytest.param({KUSTOMIZATION: "helmCharts:\n  - name: podinfo\n    repo: {url}/charts\n"},
                 f"{KUSTOMIZATION}:2: kustomization: helmCharts[0].repo", "{url}/charts",
                 id="helm-chart-repo"),
    pytest.param({KUSTOMIZATION: "resources:\n  - cm.yaml\ntransformers:\n  - patcher.yaml\n",
                  f"{REMOTE_DIR}/cm.yaml": CM,
                  f"{REMOTE_DIR}/patcher.yaml": "apiVersion: builtin\nkind: PatchTransformer\n"
                  "metadata:\n  name: patcher\npath: {url}/p.yaml\ntarget:\n  kind: ConfigMap\n"},
                 f"{REMOTE_DIR}/patcher.yaml:5: document: PatchTransformer: path", "{url}/p.yaml",
                 id="transformer-config-file"),
    pytest.param({KUSTOMIZATION: "generators:\n  - |\n    apiVersion: builtin\n"
                  "    kind: ConfigMapGenerator\n    metadata:\n      name: conf\n    files:\n"
                  "      - {url}/app.properties\n"},
                 f"{KUSTOMIZATION}:2: kustomization: generators[0]: ConfigMapGenerator: "
                 "files[0]", "{url}/app.properties", id="inline-generator-config"),
    pytest.param({KUSTOMIZATION: "resources:\n  - ../../shared\n",
                  "istio/shared/kustomization.yaml": "resources:\n  - cm.yaml\n"
                  "  - {url}/org/repo//deploy\n", "istio/shared/cm.yaml": CM},
                 "istio/shared/kustomization.yaml:3: kustomization: resources[1]",
                 "{url}/org/repo//deploy", id="local-base-of-a-local-base"),
    pytest.param({"clusters/my-cluster/istio.yaml": "  components:\n    - {url}/org/c\n"},
                 f"{SYSTEM}: spec: components[0]", "{url}/org/c",
                 id="flux-kustomization-components"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("files", "place", "value"), PLACES)
def test_a_remote_reference_in_each_place_costs_only_its_kustomization(
        tmp_path: Path, listener: Listener, files: dict[str, str], place: str,
        value: str) -> None:
    root = repository(tmp_path, files, listener.url)
    shown = value.replace("{url}", listener.url)
    assert problems(root) == [f"{place}: {shown!r} is remote: {REFUSED}"]
    assert listener.lines == []


NOT_HTTPS_TO_A_PUBLIC_NAME = [
    pytest.param("https://127.0.0.1:{port}/org/repo//deploy?ref=v1",
                 "its host 127.0.0.1 is a loopback, private, link-local or reserved address",
                 id="https-loopback"),
    pytest.param("https://127.1:{port}/org/repo",
                 "its host 127.1 is a loopback, private, link-local or reserved address",
                 id="https-loopback-short-form"),
    pytest.param("https://2130706433:{port}/org/repo",
                 "its host 2130706433 is a loopback, private, link-local or reserved address",
                 id="https-loopback-decimal"),
    pytest.param("https://[::ffff:127.0.0.1]:{port}/org/repo",
                 "its host ::ffff:127.0.0.1 is a loopback, private, link-local or reserved "
                 "address", id="https-ipv4-mapped-loopback"),
    pytest.param("https://localhost:{port}/org/repo", "its host localhost is the local host",
                 id="https-localhost"),
    pytest.param("https://git.localhost:{port}/org/repo",
                 "its host git.localhost is the local host", id="https-dot-localhost"),
    pytest.param("{url}/org/repo//deploy", "it uses http://, not https://", id="plain-http"),
    pytest.param("ssh://git@127.0.0.1:{port}/org/repo", "it uses ssh://, not https://",
                 id="ssh-url"),
    pytest.param("git@127.0.0.1:org/repo",
                 "it is not an https URL (scp-like git@host:path is ssh)", id="scp"),
    # made-up credentials on loopback: the URL must be refused for carrying any
    pytest.param("https://deploy:s3cret@127.0.0.1:{port}/org/repo", "it carries credentials",
                 id="credentials"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("shape", "why"), NOT_HTTPS_TO_A_PUBLIC_NAME)
def test_with_remote_bases_allowed_only_https_to_a_public_name_passes(
        tmp_path: Path, listener: Listener, shape: str, why: str) -> None:
    entry = shape.replace("{port}", str(listener.server_address[1]))
    root = repository(tmp_path, one_resource(entry), listener.url)
    shown = entry.replace("{url}", listener.url).replace("deploy:s3cret@", "***@").replace(
        "//git@", "//***@")  # a URL's user part is redacted, a password always
    assert problems(root, remote_bases=True) == [
        f"{KUSTOMIZATION}:2: kustomization: resources[0]: {shown!r} is remote: {why}"
        + HTTPS_ONLY]
    assert listener.lines == []


@pytest.mark.timeout(180)
def test_with_remote_bases_allowed_https_is_fetched_at_every_render(
        tmp_path: Path, listener: Listener) -> None:
    """As today: kubectl asks for github.com (here: its proxy, which refuses), at each render
    through one cache, so a remote base is never served from the cache."""
    root = repository(tmp_path, one_resource("https://github.com/org/repo//deploy?ref=v1"),
                      listener.url)
    cache = RenderCache()
    seen = []
    for _ in range(2):
        lost = problems(root, remote_bases=True, cache=cache)
        assert len(lost) == 1 and lost[0].startswith(f"{SYSTEM}: kustomize build istio/system: ")
        seen.append(len(listener.lines))
    assert "CONNECT github.com:443 HTTP/1.1" in listener.lines
    assert 0 < seen[0] < seen[1]


def test_a_build_that_fetches_is_never_kept_by_the_cache(tmp_path: Path) -> None:
    """A remote only a transformer config names (the inputs' digest does not see it) is not
    kept either: `remote.check` says the build fetches. A build that fetches nothing is."""
    files = {"app/kustomization.yaml": "resources:\n  - cm.yaml\ntransformers:\n  - t.yaml\n",
             "app/cm.yaml": CM,
             "app/t.yaml": "kind: PatchTransformer\npath: https://x.io/p.yaml\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    app = FluxKustomization("app", "flux-system", "app",
                            SourceRef("GitRepository", "flux-system", "flux-system"), {})
    cache, runs = RenderCache(), []

    def run() -> tuple[tuple[RenderedObject, ...], float]:
        runs.append(app.key)
        return (), 0.0

    for _ in range(2):
        cache.build(tmp_path, app, run, lambda: remote.check(tmp_path, app, True))
    assert (len(runs), cache.size, cache.hits) == (2, 0, 0)
    (tmp_path / "app/t.yaml").write_text("kind: PatchTransformer\npath: local.yaml\n")
    for _ in range(2):
        cache.build(tmp_path, app, run, lambda: remote.check(tmp_path, app, True))
    assert (len(runs), cache.size, cache.hits) == (3, 1, 1)


@pytest.mark.parametrize(("value", "why"), [
    pytest.param("https://github.com/org/repo//deploy?ref=v1", None, id="https-github"),
    pytest.param("github.com/org/repo//deploy?ref=v1", None, id="github-shorthand-is-https"),
    pytest.param("git::https://gitlab.example.com/org/repo", None, id="forced-git-https"),
    pytest.param("https://8.8.8.8/org/repo", None, id="public-address"),
    pytest.param("https://169.254.169.254/latest/meta-data", "its host 169.254.169.254 is a "
                 "loopback, private, link-local or reserved address", id="link-local"),
    pytest.param("https://10.1.2.3/org/repo", "its host 10.1.2.3 is a loopback, private, "
                 "link-local or reserved address", id="private"),
    pytest.param("https://0x7f000001/org/repo", "its host 0x7f000001 is a loopback, private, "
                 "link-local or reserved address", id="hex-loopback"),
    pytest.param("https://[fe80::1%25eth0]/org/repo", "its host fe80::1%25eth0 is a loopback, "
                 "private, link-local or reserved address", id="ipv6-link-local"),
    pytest.param("https://0.0.0.0/org/repo", "its host 0.0.0.0 is a loopback, private, "
                 "link-local or reserved address", id="unspecified"),
    pytest.param("https://git_server/org/repo", "its host 'git_server' is not a DNS name",
                 id="not-a-dns-name"),
    pytest.param("https:///org/repo", "it names no host", id="no-host"),
    pytest.param("file:///srv/git/repo", "it uses file://, not https://", id="file-url"),
    pytest.param("github.com:org/repo", "it is not an https URL (scp-like git@host:path is ssh)",
                 id="github-colon-is-ssh"),
])
def test_which_remote_references_are_fetched_when_allowed(value: str, why: str | None) -> None:
    assert remote.is_remote(value)
    assert remote.not_fetched(value) == why


@pytest.mark.parametrize("value", [
    pytest.param("../base", id="climbing-path"),
    pytest.param("deployment.yaml", id="file"),
    pytest.param("app.properties=conf/app.properties", id="generator-key-path"),
    pytest.param("./github.com/org/repo", id="local-directory-named-like-a-host"),
    pytest.param("patch: |\n  kind: X\n", id="inline-patch"),
    pytest.param("user@example.com", id="at-without-colon"),
])
def test_local_references_are_not_remote(value: str) -> None:
    assert not remote.is_remote(value)


@pytest.mark.parametrize("text", [
    pytest.param("resources:\n  - https://github.com/org/repo//deploy?ref=v1\n", id="resource"),
    pytest.param("patches:\n  - path: https://example.com/p.yaml\n", id="patch-path"),
    pytest.param("configMapGenerator:\n  - name: c\n    files:\n      - a=https://x.io/a\n",
                 id="generator-file"),
    pytest.param("helmCharts:\n  - name: c\n    repo: https://charts.example.com\n",
                 id="helm-chart-repo"),
    pytest.param("components:\n  - git@github.com:org/repo//c\n", id="component-ssh"),
])
def test_a_remote_entry_in_any_place_makes_a_build_volatile(tmp_path: Path, text: str) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app/kustomization.yaml").write_text(text)
    assert inputs.closure(tmp_path, "app", inputs.FileDigests()).volatile


def test_the_key_defaults_to_false_and_validate_says_how_to_allow(
        tmp_path: Path, listener: Listener) -> None:
    """`gitbot validate` with a config: the golden text, exit 2; with the key true the same
    repository is fetched (the proxy sees it) instead of refused."""
    files = {str(p.relative_to(LAYOUT)): p.read_text() for p in LAYOUT.rglob("*") if p.is_file()}
    files[KUSTOMIZATION] = "resources:\n  - https://github.com/org/repo//deploy?ref=v1\n"
    bare = make_remote(tmp_path, files)
    config = tmp_path / "config.yaml"
    base = f"git:\n  url: {bare}\n  workdir: {tmp_path / 'work'}\n"
    config.write_text(base)
    assert load_settings(config).security.remote_bases is False
    result = CliRunner().invoke(cli, ["--config", str(config), "validate"],
                                catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (2, GOLDEN.read_text(encoding="utf-8"))
    assert listener.lines == []
    config.write_text(base + "security:\n  remoteBases: true\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "validate"],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert "security.remoteBases" not in result.stdout
    assert "CONNECT github.com:443 HTTP/1.1" in listener.lines


def test_urls_inside_resources_are_data_and_configs_are_followed(tmp_path: Path) -> None:
    """A resource's `env: [{value: http://frontend}]` is never fetched (podinfo's warm-cache
    CronJob); a transformer config's `path:` is, like a PatchTransformer's."""
    files = {
        "app/kustomization.yaml": "resources:\n  - cronjob.yaml\ntransformers:\n  - t.yaml\n",
        "app/cronjob.yaml": "kind: CronJob\nspec:\n  env:\n    - value: http://frontend\n",
        "app/t.yaml": "kind: PatchTransformer\npaths:\n  - local.yaml\n  - https://x.io/p\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert list(remote.walk(tmp_path, "app")) == [
        remote.Found("app/t.yaml", 4, "PatchTransformer: paths[1]", "https://x.io/p")]
