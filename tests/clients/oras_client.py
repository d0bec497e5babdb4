"""ORAS's Python client (PyPI `oras`) driven by the e2e tests.

Usage: python3 oras_client.py '<json request>'; prints one JSON object on the last line of
stdout. Every request carries "host" ("127.0.0.1:5000"), "config" (a Docker-style config.json
holding this test's credentials) and "auth_backend": "token" for registries using the Docker
token protocol (Wharf), "basic" for registries asking for Basic auth (the reference registry
with htpasswd). The registry is always spoken to over plain HTTP (`insecure=True`).

  {"op": "login", "username": ..., "password": ...}
      writes the credentials to "config" (oras-py's own login does not contact the
      registry), then checks them with GET /v2/.
  {"op": "push", "target": "host/repo:tag", "dir": ..., "files": [[name, media_type], ...],
   "config_media_type": ... | null, "annotations": {...} | null,
   "subject": {"mediaType", "digest", "size"} | null}
      -> {"digest", "size", "mediaType"}: the manifest as pushed (digest of the exact bytes
         sent, checked against the registry's Docker-Content-Digest).
  {"op": "pull", "target": ..., "outdir": ...}
      -> {"files": [paths], "digest": manifest digest of the bytes served}
  {"op": "referrers", "repository": ..., "digest": ..., "artifact_type": ... | null}
      -> {"status": int, "headers": {...}, "body": index JSON}
  {"op": "cp-layout", "layout": dir, "source": ":<ref name>" | "@<digest>",
   "target": "host/repo:tag" | "host/repo@digest", "recursive": bool}
      -> {"copied": [manifest digests, in the order pushed]}: what `oras cp [-r]
         --from-oci-layout` does (see copy_layout); `tests/clients/bin/oras` runs it as a
         command line.
"""

import hashlib
import json
import os
import sys

import oras.oci
import oras.provider
import oras.utils
import oras.version


def registry(req):
    reg = oras.provider.Registry(
        hostname=req["host"], insecure=True, auth_backend=req.get("auth_backend", "token")
    )
    # oras-py names itself only to token services ("oras-py"); its registry requests carry
    # python-requests' default User-Agent, which no registry can tell apart from any other
    # script. Applications embedding it should say who they are, as this driver does, so
    # Wharf's usage analytics count it as oras.
    reg.session.headers["User-Agent"] = f"oras-py/{oras.version.__version__}"
    return reg


def load_auth(reg, req):
    cfg = oras.utils.read_json(req["config"]) if os.path.exists(req["config"]) else {}
    auth = cfg.get("auths", {}).get(req["host"], {}).get("auth")
    if auth:
        reg.auth._basic_auth = auth


def copy_layout(reg, layout, source, target, recursive):
    """`oras cp [-r] --from-oci-layout LAYOUT{:NAME|@DIGEST} TARGET` with oras-py's registry
    API (oras-py has no `cp`, and no oras CLI installs here). Selects the `index.json` entry
    by `org.opencontainers.image.ref.name` (`:NAME`) or by digest (`@DIGEST`); uploads every
    config and layer the registry lacks, the children of an index by digest, then the
    manifest itself byte for byte (never re-serialized) under the target's tag or digest,
    checking the digest the registry answers. With `recursive`, also every manifest of the
    layout's `index.json` whose `subject` is one copied (signatures, SBOMs; of the index's
    children too), by digest, and theirs in turn, as `oras cp -r` does."""
    with open(os.path.join(layout, "index.json")) as f:
        entries = json.load(f)["manifests"]
    kind, ref = source[0], source[1:]
    if kind == "@":
        chosen = [e for e in entries if e["digest"] == ref]
    else:
        chosen = [
            e for e in entries if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref
        ]
    if not chosen:
        raise SystemExit(f"{layout}{source}: not found in the layout")
    container = reg.get_container(target)
    base = f"{reg.prefix}://{container.registry}/v2/{container.api_prefix}"
    copied = []

    def blob_path(digest):
        algorithm, hex_part = digest.split(":", 1)
        return os.path.join(layout, "blobs", algorithm, hex_part)

    def read_checked(desc):
        with open(blob_path(desc["digest"]), "rb") as f:
            body = f.read()
        if "sha256:" + hashlib.sha256(body).hexdigest() != desc["digest"]:
            raise SystemExit(f"{desc['digest']}: the layout's bytes do not hash to it")
        return body

    def put_manifest(desc, reference):
        body = read_checked(desc)
        doc = json.loads(body)
        for child in doc.get("manifests", []):
            put_manifest(child, child["digest"])
        blobs = ([doc["config"]] if "config" in doc else []) + doc.get("layers", [])
        for blob in blobs:
            path = blob_path(blob["digest"])
            if not os.path.exists(path) and blob.get("urls"):
                continue  # a foreign layer: not distributable, not in the layout
            resp = reg.upload_blob(path, container, blob)
            if resp.status_code not in (200, 201, 202):
                raise SystemExit(f"uploading {blob['digest']} answered {resp.status_code}: {resp.text}")
        media_type = doc.get("mediaType") or desc["mediaType"]
        resp = reg.do_request(f"{base}/manifests/{reference}", "PUT", data=body, headers={"Content-Type": media_type})
        if resp.status_code != 201:
            raise SystemExit(f"PUT manifest {reference} answered {resp.status_code}: {resp.text}")
        served = resp.headers.get("Docker-Content-Digest")
        if served and served != desc["digest"]:
            raise SystemExit(f"the registry says {served} for {desc['digest']}")
        copied.append(desc["digest"])
        return doc

    put_manifest(chosen[0], container.digest or container.tag)
    if recursive:
        subjects = set(copied)
        pending = True
        while pending:
            pending = False
            for entry in entries:
                if entry["digest"] in copied:
                    continue
                doc = json.loads(read_checked(entry))
                if doc.get("subject", {}).get("digest") in subjects:
                    put_manifest(entry, entry["digest"])
                    subjects.add(entry["digest"])
                    pending = True
    return copied


def main() -> None:
    req = json.loads(sys.argv[1])
    reg = registry(req)
    op = req["op"]
    base = f"{reg.prefix}://{req['host']}"
    if op == "login":
        reg.login(
            req["username"],
            req["password"],
            hostname=req["host"],
            config_path=req["config"],
        )
        load_auth(reg, req)
        # Without do_request's retry decorator: when the token service refuses the
        # credentials, oras-py raises ValueError("Cannot respond to request for
        # authentication.") and the decorator retries it five times, sleeping 3 to 83 s.
        try:
            resp = oras.provider.Registry.do_request.__wrapped__(reg, f"{base}/v2/", "GET")
        except ValueError as e:
            raise SystemExit(f"login check failed: {e}")
        if resp.status_code != 200:
            raise SystemExit(f"login check failed: GET /v2/ answered {resp.status_code}")
        out = {"ok": True}
    elif op == "push":
        load_auth(reg, req)
        subject = None
        if req.get("subject"):
            s = req["subject"]
            subject = oras.oci.Subject(mediaType=s["mediaType"], digest=s["digest"], size=s["size"])
        manifest_config = None
        if req.get("config_media_type"):
            config_path = os.path.join(req["dir"], "config.json")
            with open(config_path, "w") as f:
                f.write("{}")
            manifest_config = f"{config_path}:{req['config_media_type']}"
        cwd = os.getcwd()
        os.chdir(req["dir"])
        try:
            files = [f"{name}:{media_type}" for name, media_type in req["files"]]
            resp = reg.push(
                target=req["target"],
                files=files,
                manifest_config=manifest_config,
                manifest_annotations=req.get("annotations"),
                subject=subject,
                config_path=req["config"],
                quiet=True,
            )
        finally:
            os.chdir(cwd)
        # requests serialised the manifest (json=...); those are the bytes the registry got.
        sent = resp.request.body
        if isinstance(sent, str):
            sent = sent.encode()
        digest = "sha256:" + hashlib.sha256(sent).hexdigest()
        served = resp.headers.get("Docker-Content-Digest")
        if served and served != digest:
            raise SystemExit(f"registry says {served}, pushed bytes hash to {digest}")
        out = {
            "digest": digest,
            "size": len(sent),
            "mediaType": json.loads(sent)["mediaType"],
        }
    elif op == "pull":
        load_auth(reg, req)
        container = reg.get_container(req["target"])
        reg.auth.load_configs(container, configs=[req["config"]])
        files = reg.pull(target=req["target"], outdir=req["outdir"], config_path=req["config"])
        resp = reg.do_request(
            f"{reg.prefix}://{container.manifest_url()}",
            "GET",
            headers={"Accept": oras.defaults.default_manifest_media_type},
        )
        if resp.status_code != 200:
            raise SystemExit(f"manifest GET answered {resp.status_code}: {resp.text}")
        out = {"files": files, "digest": "sha256:" + hashlib.sha256(resp.content).hexdigest()}
    elif op == "referrers":
        load_auth(reg, req)
        url = f"{base}/v2/{req['repository']}/referrers/{req['digest']}"
        if req.get("artifact_type"):
            url += f"?artifactType={req['artifact_type']}"
        resp = reg.do_request(url, "GET", headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        out = {"status": resp.status_code, "headers": dict(resp.headers), "body": body}
    elif op == "cp-layout":
        load_auth(reg, req)
        out = {
            "copied": copy_layout(
                reg, req["layout"], req["source"], req["target"], req.get("recursive", False)
            )
        }
    else:
        raise SystemExit(f"unknown op {op!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
