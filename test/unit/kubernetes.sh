#!/usr/bin/env bash
# Checks deploy/kubernetes without a cluster: every file parses as YAML, and the manifests
# agree with each other, with the Dockerfile and with snk:
# - kustomization.yaml lists every manifest but the Secret and the migrate Job;
# - the Deployment: 2 replicas, RollingUpdate that keeps a standby (maxUnavailable 0),
#   liveness on /livez and readiness on /healthz (never /readyz, which is 503 on a standby
#   for good and would stall every rollout), both on the port of metrics_listen;
#   terminationGracePeriodSeconds over snk's 30 s stop grace; non-root (the Dockerfile's
#   uid), read-only root filesystem, no privilege escalation, no capabilities; resources;
# - the command is the binary where the Dockerfile puts it, on the config where the
#   ConfigMap is mounted; config.json passes `snk --check-config`;
# - passfile= in both conninfos names the file the init container copies (mode 0600) from
#   the Secret's key, into a writable volume that also holds control_socket; the Job
#   mounts the same.
# Skips (exit 77) when python3 or its yaml module is missing (Debian: python3-yaml).
set -euo pipefail
src=${1:?usage: kubernetes.sh SOURCE_DIR SNK_BINARY}
bin=${2:?}
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3's yaml module not installed (apt install python3-yaml)"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$src" "$dir/config.json" <<'EOF'
import glob, json, os, re, sys, yaml

src, config_out = sys.argv[1], sys.argv[2]
kdir = os.path.join(src, "deploy/kubernetes")

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

docs = {}
for path in sorted(glob.glob(os.path.join(kdir, "*.yaml"))):
    name = os.path.basename(path)
    try:
        with open(path) as f:
            parsed = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{name}: not YAML: {e}")
    if len(parsed) != 1:
        fail(f"{name}: {len(parsed)} documents, want one")
    docs[name] = parsed[0]

def kind(k):
    found = [(n, d) for n, d in docs.items() if d.get("kind") == k]
    if len(found) != 1:
        fail(f"want one {k}, found {[n for n, _ in found]}")
    return found[0]

_, kust = kind("Kustomization")
# The Secret is created once by hand (an apply would put the example's password over the
# real one), the Job runs when created.
want = sorted(n for n, d in docs.items() if d.get("kind") not in ("Kustomization", "Job", "Secret"))
if sorted(kust.get("resources", [])) != want:
    fail(f"kustomization.yaml lists {kust.get('resources')}, want {want}")

_, cm = kind("ConfigMap")
_, secret = kind("Secret")
_, dep = kind("Deployment")
_, pdb = kind("PodDisruptionBudget")
_, job = kind("Job")

try:
    cfg = json.loads(cm["data"]["config.json"])
except (KeyError, ValueError) as e:
    fail(f"the ConfigMap's config.json: {e}")
with open(config_out, "w") as f:
    f.write(cm["data"]["config.json"])

spec = dep["spec"]
if spec.get("replicas") != 2:
    fail(f"replicas {spec.get('replicas')}, want 2")
strategy = spec.get("strategy", {})
if strategy.get("type") != "RollingUpdate" or strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0:
    fail(f"strategy {strategy}: want RollingUpdate with maxUnavailable 0 (a standby throughout)")
labels = spec["template"]["metadata"]["labels"]
if spec["selector"]["matchLabels"] != labels or pdb["spec"]["selector"]["matchLabels"] != labels:
    fail("the Deployment's selector, its pods' labels and the PodDisruptionBudget's selector differ")
pod = spec["template"]["spec"]
if not pod.get("terminationGracePeriodSeconds", 30) > 30:
    fail(f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)}: snk's stop grace is 30 s")

with open(os.path.join(src, "Dockerfile")) as f:
    dockerfile = f.read()
m = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
if not m:
    fail("the Dockerfile's USER is not numeric: runAsNonRoot cannot check a name")
uid, gid = int(m.group(1)), int(m.group(2))
if not re.search(rf"--uid {uid} .*snk$", dockerfile, re.M):
    fail(f"the Dockerfile does not create user snk with uid {uid}")
m = re.search(r"^COPY --from=build (.*) (\S+)/$", dockerfile, re.M)
if not m or "/usr/local/bin/snk" not in m.group(1).split() or m.group(2) != "/usr/local/bin":
    fail("the Dockerfile does not put snk in /usr/local/bin")

def check_pod(what, pod, command_tail):
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != uid or psc.get("runAsGroup") != gid:
        fail(f"{what}: pod securityContext {psc}: want runAsNonRoot, uid {uid}, gid {gid} (the Dockerfile's)")
    volumes = {v["name"]: v for v in pod["volumes"]}
    containers = pod.get("initContainers", []) + pod["containers"]
    for c in containers:
        sc = c.get("securityContext", {})
        if (sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False
                or sc.get("capabilities", {}).get("drop") != ["ALL"]):
            fail(f"{what}: container {c['name']}: securityContext {sc}")
        if c["image"] != pod["containers"][0]["image"]:
            fail(f"{what}: container {c['name']} runs another image")
    mounts = lambda c: {m["mountPath"]: volumes[m["name"]] for m in c.get("volumeMounts", [])}
    main = pod["containers"][0]
    if main["command"] != ["/usr/local/bin/snk", "-c", "/etc/snk/config.json"] + command_tail:
        fail(f"{what}: command {main['command']}")
    cfg_vol = mounts(main).get("/etc/snk", {})
    if cfg_vol.get("configMap", {}).get("name") != cm["metadata"]["name"]:
        fail(f"{what}: /etc/snk is not the ConfigMap {cm['metadata']['name']}")
    # passfile= in both conninfos: one file, which the init container writes mode 0600
    # from the Secret into a writable volume the main container mounts too.
    passfiles = {re.search(r"(?:^| )passfile=(\S+)", cfg["databases"][d]).group(1)
                 for d in ("a", "b") if re.search(r"(?:^| )passfile=", cfg["databases"][d])}
    if len(passfiles) != 1:
        fail(f"the conninfos name passfiles {passfiles}, want one")
    passfile = passfiles.pop()
    init = [c for c in pod.get("initContainers", []) if passfile in c.get("command", [])]
    if len(init) != 1:
        fail(f"{what}: no init container writes {passfile}")
    cmd = init[0]["command"]
    if cmd[:3] != ["install", "-m", "0600"] or cmd[-1] != passfile:
        fail(f"{what}: the init container's command {cmd}: want install -m 0600 SECRET {passfile}")
    secret_path = cmd[-2]
    sdir, skey = os.path.split(secret_path)
    svol = mounts(init[0]).get(sdir, {})
    if svol.get("secret", {}).get("secretName") != secret["metadata"]["name"]:
        fail(f"{what}: {sdir} in the init container is not the Secret {secret['metadata']['name']}")
    if skey not in secret.get("stringData", {}) and skey not in secret.get("data", {}):
        fail(f"the Secret has no key {skey}")
    for c, path in ((init[0], passfile), (main, passfile), (main, cfg.get("control_socket", ""))):
        vol = mounts(c).get(os.path.dirname(path))
        if not vol or "emptyDir" not in vol:
            fail(f"{what}: {path} is not in a writable volume of container {c['name']}")
    return main

main = check_pod("Deployment", pod, [])
check_pod("Job", job["spec"]["template"]["spec"], ["migrate"])
ports = {p["name"]: p["containerPort"] for p in main["ports"]}
listen_port = int(cfg["metrics_listen"].rsplit(":", 1)[1])
if not cfg["metrics_listen"].startswith("0.0.0.0:"):
    fail(f"metrics_listen {cfg['metrics_listen']}: the kubelet probes the pod's address")
for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/healthz")):
    get = main.get(probe, {}).get("httpGet", {})
    if get.get("path") != path:
        fail(f"{probe} on {get.get('path')}, want {path}")
    if ports.get(get.get("port"), get.get("port")) != listen_port:
        fail(f"{probe} on port {get.get('port')}, metrics_listen is {cfg['metrics_listen']}")
if "/readyz" in json.dumps(main.get("startupProbe", {})):
    fail("a startupProbe on /readyz never passes on a standby")
res = main.get("resources", {})
if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
    fail(f"resources {res}: want memory requests and limits")
print(f"manifests agree: {', '.join(sorted(docs))}")
EOF
"$bin" -c "$dir/config.json" --check-config || { echo "FAIL: the ConfigMap's config.json does not pass --check-config"; exit 1; }
echo "PASS: deploy/kubernetes parses, agrees with the Dockerfile, and its config passes --check-config"
