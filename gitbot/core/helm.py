"""Flux HelmReleases as canary targets: naming rules and the Canary's helm annotations (pure).

Called by `gitbot.adapters.helmrelease` (which HelmRelease renders a Canary's target) and by
`gitbot.core.helm_primary` (the `<release>-primary` HelmRelease, revisions).

Naming, as helm-controller and the charts do it:

- Helm release name (Flux `HelmRelease.GetReleaseName`): `spec.releaseName`, else
  `[spec.targetNamespace-]metadata.name`. Helm limits release names to 53 characters and Flux
  shortens longer composed names with a hash; gitbot asks for an explicit `releaseName` then.
- The objects land in `spec.targetNamespace`, else the HelmRelease's namespace.
  `spec.storageNamespace` only says where Helm keeps its release Secret: no effect on names.
- Object names: stefanprodan/podinfo's chart (`podinfo.fullname` in
  charts/podinfo/templates/_helpers.tpl) and Bitnami charts (`common.names.fullname` in
  bitnami/common/templates/_names.tpl) use the rule `helm create` generates: `fullnameOverride`
  when set; else with `name = nameOverride or chart name`, the release name alone when it
  contains `name`, otherwise `<release>-<name>`; truncated to 63 characters, trailing `-` cut.
  Both name the Deployment and its Service with that full name, and select pods by
  `app.kubernetes.io/name` + `app.kubernetes.io/instance: <release>`, so a second release
  `<release>-primary` with `fullnameOverride: <target>-primary` yields the Deployment and Service
  `<target>-primary` whose pods the target's Service never selects. Charts that ignore
  `fullnameOverride` name another values path with `gitbot.io/helm-name-path`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitbot.core.spec import JSON

HELM_GROUP = "helm.toolkit.fluxcd.io"
HELM_VERSIONS = ("v2", "v2beta2", "v2beta1")
ANNOTATION_RELEASE = "gitbot.io/helm-release"
ANNOTATION_NAME_PATH = "gitbot.io/helm-name-path"
ANNOTATION_REPLICAS_PATH = "gitbot.io/helm-replicas-path"
ANNOTATION_SELECTOR = "gitbot.io/helm-selector"
DEFAULT_NAME_PATH: tuple[str, ...] = ("fullnameOverride",)
MAX_RELEASE_NAME = 53
MAX_OBJECT_NAME = 63

ValuesPath = tuple[str, ...]


class HelmSpecError(ValueError):
    """A HelmRelease or a Canary's helm annotation gitbot cannot use; the text says why."""


def is_helm_release(doc: Mapping[str, JSON]) -> bool:
    """True for a helm.toolkit.fluxcd.io HelmRelease (v2, v2beta2, v2beta1)."""
    group, _, version = str(doc.get("apiVersion", "")).partition("/")
    return doc.get("kind") == "HelmRelease" and group == HELM_GROUP and version in HELM_VERSIONS


@dataclass(frozen=True)
class HelmOptions:
    """What a Canary's annotations say about its HelmRelease."""

    release: tuple[str, str] | None = None  # (namespace, name) named by gitbot.io/helm-release
    name_path: ValuesPath = DEFAULT_NAME_PATH
    replicas_path: ValuesPath | None = None  # None: scale through a postRenderers patch
    selector: tuple[tuple[str, str], ...] = ()  # the team pods' labels; (): the convention


def parse_values_path(text: str, annotation: str) -> ValuesPath:
    """`a.b.c` -> ("a", "b", "c"); an empty segment is a HelmSpecError naming the annotation."""
    parts = tuple(text.strip().split("."))
    if not text.strip() or any(not p for p in parts):
        raise HelmSpecError(f"metadata.annotations.{annotation}: {text!r} is not a values path "
                            "(dotted keys such as fullnameOverride or app.replicas)")
    return parts


def parse_options(annotations: Mapping[str, str], canary_namespace: str) -> HelmOptions:
    """The helm annotations of a Canary (`gitbot.io/helm-release: NAME` or `NS/NAME`, ...)."""
    release = None
    named = annotations.get(ANNOTATION_RELEASE)
    if named is not None:
        namespace, _, name = named.strip().rpartition("/")
        if not name or "/" in namespace:
            raise HelmSpecError(f"metadata.annotations.{ANNOTATION_RELEASE}: {named!r} is not "
                                "NAME or NAMESPACE/NAME")
        release = (namespace or canary_namespace, name)
    name_path = DEFAULT_NAME_PATH
    if ANNOTATION_NAME_PATH in annotations:
        name_path = parse_values_path(annotations[ANNOTATION_NAME_PATH], ANNOTATION_NAME_PATH)
    replicas = None
    if ANNOTATION_REPLICAS_PATH in annotations:
        replicas = parse_values_path(annotations[ANNOTATION_REPLICAS_PATH],
                                     ANNOTATION_REPLICAS_PATH)
    selector: tuple[tuple[str, str], ...] = ()
    if ANNOTATION_SELECTOR in annotations:
        selector = parse_selector(annotations[ANNOTATION_SELECTOR])
    return HelmOptions(release, name_path, replicas, selector)


def parse_selector(text: str) -> tuple[tuple[str, str], ...]:
    """`app=web,tier=front` -> (("app", "web"), ("tier", "front")); HelmSpecError when empty or
    a pair lacks its `=` or a side."""
    pairs = [p.strip().partition("=") for p in text.split(",")]
    if not text.strip() or any(not k.strip() or not sep or not v.strip() for k, sep, v in pairs):
        raise HelmSpecError(f"metadata.annotations.{ANNOTATION_SELECTOR}: {text!r} is not "
                            "LABEL=VALUE[,LABEL=VALUE...] (the labels of the release's pods)")
    return tuple((k.strip(), v.strip()) for k, _, v in pairs)


def _map(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def metadata_key(release: Mapping[str, JSON]) -> tuple[str, str]:
    """(namespace, name) of the HelmRelease object itself."""
    meta = _map(release.get("metadata"))
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


def release_name(release: Mapping[str, JSON]) -> str:
    """The Helm release name helm-controller uses (`spec.releaseName` or `[targetNs-]name`)."""
    spec = _map(release.get("spec"))
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    name = metadata_key(release)[1]
    target = spec.get("targetNamespace")
    return f"{target}-{name}" if target else name


def check_release_name(release: Mapping[str, JSON]) -> None:
    """HelmSpecError when Flux would shorten the release name with a hash (over 53 chars)."""
    name = release_name(release)
    if len(name) > MAX_RELEASE_NAME:
        raise HelmSpecError(f"spec.releaseName: the release name {name!r} is longer than "
                            f"{MAX_RELEASE_NAME} characters (Flux shortens it with a hash): "
                            "set spec.releaseName")


def objects_namespace(release: Mapping[str, JSON]) -> str:
    """Where the chart's objects land: `spec.targetNamespace`, else the release's namespace."""
    target = _map(release.get("spec")).get("targetNamespace")
    return str(target) if target else metadata_key(release)[0]


def chart_spec(release: Mapping[str, JSON]) -> Mapping[str, JSON]:
    """`spec.chart.spec` (empty for a release using `spec.chartRef`)."""
    return _map(_map(_map(release.get("spec")).get("chart")).get("spec"))


def chart_name(release: Mapping[str, JSON]) -> str:
    """The chart's name as far as the repository says (`spec.chart.spec.chart`, last segment)."""
    chart = str(chart_spec(release).get("chart") or "")
    return chart.rstrip("/").rsplit("/", 1)[-1]


def get_path(values: JSON, path: ValuesPath) -> JSON:
    """The value at `path` in a values tree, None when absent."""
    node = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _trunc(name: str) -> str:
    return name[:MAX_OBJECT_NAME].rstrip("-")


def chart_fullname(release: str, chart: str, values: JSON) -> str:
    """The `fullname` helper of podinfo / Bitnami / `helm create` charts."""
    override = get_path(values, ("fullnameOverride",))
    if override:
        return _trunc(str(override))
    name = str(get_path(values, ("nameOverride",)) or chart)
    return _trunc(release if name in release else f"{release}-{name}")


def rendered_name(release: Mapping[str, JSON], name_path: ValuesPath = DEFAULT_NAME_PATH) -> str:
    """The Deployment name a release's chart yields by the fullname rule ("" when unknown).

    With a custom name path, the value at that path names the objects when set.
    """
    values = _map(release.get("spec")).get("values")
    if name_path != DEFAULT_NAME_PATH:
        custom = get_path(values, name_path)
        if custom:
            return _trunc(str(custom))
    chart = chart_name(release)
    if not chart and not get_path(values, ("fullnameOverride",)):
        return ""
    return chart_fullname(release_name(release), chart, values)


def produces(release: Mapping[str, JSON], deployment: str, namespace: str,
             name_path: ValuesPath = DEFAULT_NAME_PATH) -> bool:
    """True when the release's chart renders Deployment `namespace/deployment` by its naming.

    Matches the fullname rule, or the release name itself (charts naming objects after it).
    """
    if objects_namespace(release) != namespace:
        return False
    return deployment in (rendered_name(release, name_path), release_name(release))


def selector_labels(release: Mapping[str, JSON]) -> dict[str, str]:
    """The pod selector of the release's Deployment by the podinfo / Bitnami / `helm create`
    convention (`podinfo.selectorLabels`, `common.labels.matchLabels`): the chart name (or
    `nameOverride`) and the release name. gitbot's `<target>-canary` Service selects these."""
    values = _map(release.get("spec")).get("values")
    name = str(get_path(values, ("nameOverride",)) or chart_name(release))
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release_name(release)}
