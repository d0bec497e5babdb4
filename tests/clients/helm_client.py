"""Helm's official SDK (PyPI `helm-python-sdk`, module `helm_python`) driven by the e2e tests.

Usage: python3 helm_client.py '<json request>'; prints one JSON object on the last line of
stdout. The request always carries "credentials_file" (the registry logins, per test) and
one of these operations:

  {"op": "login", "host": "127.0.0.1:5000", "username": ..., "password": ...}
  {"op": "package", "chart_dir": ..., "destination": ...}            -> {"archive": path}
  {"op": "push", "archive": ..., "remote": "oci://host/repo"}          -> {"digest", "media_type", "size"}
  {"op": "pull", "chart": "oci://host/repo/name", "version": ..., "destination": ...}
                                                                       -> {"archive": path}
  {"op": "tags", "chart": "oci://host/repo/name"}                       -> {"tags": [...]}
  {"op": "resolve", "ref": "oci://host/repo/name:tag"}                  -> {"digest", ...}
  {"op": "install", "name": ..., "chart": "oci://host/repo/name", "version": ...}
                                                    -> {"name", "chart_name", "chart_version", "manifest"}

Every registry call uses plain HTTP (`plain_http=True`): the tests run registries on
127.0.0.1 without TLS; a request may say `"plain_http": false` (a shown `helm` line
without `--plain-http`). `install` is Helm's client-side dry run (`dry_run="client"`,
release storage in memory): the chart is pulled and rendered as `helm install` does, and
nothing is sent to a cluster (there is none here).
"""

import json
import os
import sys

import helm_python as helm


def main() -> None:
    req = json.loads(sys.argv[1])
    plain_http = req.get("plain_http", True)
    client = helm.RegistryClient(plain_http=plain_http, credentials_file=req["credentials_file"])
    op = req["op"]
    if op == "login":
        client.login(req["host"], req["username"], req["password"], plain_http=plain_http)
        out = {"ok": True}
    elif op == "install":
        config = helm.Config(storage_driver="memory")
        config.set_registry_client(client)
        release = config.install(
            req["chart"],
            req["name"],
            dry_run="client",
            chart_version=req.get("version"),
            plain_http=plain_http,
        )
        out = {k: release.get(k) for k in ("name", "chart_name", "chart_version", "manifest")}
    elif op == "package":
        os.makedirs(req["destination"], exist_ok=True)
        out = {"archive": helm.package(req["chart_dir"], destination=req["destination"])}
    elif op == "push":
        client.push(req["archive"], req["remote"])
        # push() reports nothing useful; ask the registry what the tag now points at.
        chart = helm.Chart.load(req["archive"])
        tag = chart.version.replace("+", "_")
        out = client.resolve(f"{req['remote']}/{chart.name}:{tag}")
    elif op == "pull":
        os.makedirs(req["destination"], exist_ok=True)
        before = set(os.listdir(req["destination"]))
        client.pull(
            req["chart"],
            version=req.get("version"),
            destination=req["destination"],
            plain_http=plain_http,
        )
        new = sorted(set(os.listdir(req["destination"])) - before)
        if len(new) != 1:
            raise SystemExit(f"expected one new archive in {req['destination']}, got {new}")
        out = {"archive": os.path.join(req["destination"], new[0])}
    elif op == "tags":
        out = {"tags": client.tags(req["chart"])}
    elif op == "resolve":
        out = client.resolve(req["ref"])
    else:
        raise SystemExit(f"unknown op {op!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
