#!/bin/sh
# Installs Blitz on a SOC host (run from a checkout, as root):
#   /opt/blitz/           the bundle (blitz.js, sandbox_worker.ts, sandbox_child.ts), the pinned Deno, the launcher `blitz`
#   /etc/blitz/           blitz.yaml, detectors/, blitz.env (secrets, 0640 root:blitz); never overwritten
#   /var/lib/blitz/       data_dir: the store and the outbox, owned by the `blitz` system user
#   /etc/systemd/system/blitz.service
#
# install.sh --prefix <dir> installs the same tree under <dir>, every path inside it prefixed, and creates
# no user (CI, or trying it unprivileged). DENO=<path> picks the Deno binary to pin (default: `deno` on PATH).
set -eu

PINNED_DENO=2.9.6
PREFIX=""
usage() {
  echo "Usage: deploy/install.sh [--prefix <dir>]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
  --prefix)
    [ $# -ge 2 ] || usage
    PREFIX=$2
    shift 2
    ;;
  --prefix=*)
    PREFIX=${1#--prefix=}
    shift
    ;;
  -h | --help) usage ;;
  *)
    echo "error: unknown option \"$1\"" >&2
    usage
    ;;
  esac
done
if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX=$(cd "$PREFIX" && pwd)
elif [ "$(id -u)" != 0 ]; then
  echo "error: run as root to install system-wide, or use --prefix <dir> to install under a folder" >&2
  exit 2
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
DENO=${DENO:-$(command -v deno || true)}
if [ -z "$DENO" ] || ! [ -x "$DENO" ]; then
  echo "error: Deno $PINNED_DENO not found: npm i -g deno@$PINNED_DENO, or set DENO=/path/to/deno" >&2
  exit 2
fi
found=$("$DENO" --version | head -n 1 | cut -d' ' -f2)
if [ "$found" != "$PINNED_DENO" ]; then
  echo "error: Blitz is pinned to Deno $PINNED_DENO, $DENO is $found: npm i -g deno@$PINNED_DENO, or set DENO=" >&2
  exit 2
fi

OPT=$PREFIX/opt/blitz
ETC=$PREFIX/etc/blitz
DATA=$PREFIX/var/lib/blitz
UNIT_DIR=$PREFIX/etc/systemd/system


# The bundle: what `deno task bundle` writes to dist/, built into a scratch folder so the checkout's dist/
# (and anything reading it) is left alone.
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
(cd "$REPO" && "$DENO" bundle --quiet --platform=deno -o "$BUILD/blitz.js" bundle.ts)
cp "$REPO/core/plugins/sandbox/sandbox_worker.ts" "$REPO/core/plugins/sandbox/sandbox_child.ts" "$BUILD/"

mkdir -p "$OPT" "$ETC/detectors" "$DATA" "$UNIT_DIR"
install -m 0644 "$BUILD/blitz.js" "$OPT/blitz.js"
install -m 0644 "$BUILD/sandbox_worker.ts" "$OPT/sandbox_worker.ts"
install -m 0644 "$BUILD/sandbox_child.ts" "$OPT/sandbox_child.ts"
install -m 0644 "$REPO/README.md" "$OPT/README.md"
if ! cmp -s "$DENO" "$OPT/deno"; then
  install -m 0755 "$DENO" "$OPT/deno.new" && mv -f "$OPT/deno.new" "$OPT/deno"
fi

sed -e "s|/etc/blitz|$ETC|g" -e "s|/opt/blitz|$OPT|g" -e "s|/var/lib/blitz|$DATA|g" \
  "$REPO/deploy/blitz.service" >"$UNIT_DIR/blitz.service"
chmod 0644 "$UNIT_DIR/blitz.service"
# The launcher's permission flags are the service's ExecStart flags: one definition, they cannot drift.
FLAGS=$(sed -n 's|^ExecStart=[^ ]* run \(.*\) [^ ]*/blitz\.js serve$|\1|p' "$UNIT_DIR/blitz.service")
[ -n "$FLAGS" ] || { echo "error: no ExecStart flags found in deploy/blitz.service" >&2; exit 1; }

cat >"$OPT/blitz" <<LAUNCHER
#!/bin/sh
# Blitz launcher (written by deploy/install.sh): runs the bundle with exactly the service's permissions.
#   blitz check | blitz ingest <detector> < alert.json | blitz render … | blitz serve | blitz <command> --help
# Config: --config <path>, else \$BLITZ_CONFIG, else $ETC/blitz.yaml. Secrets: $ETC/blitz.env.
set -e
if [ "\$(id -u)" = 0 ] && [ -z "$PREFIX" ] && id blitz >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
  # As root, run as the service user, so the store and outbox files stay the service's.
  exec runuser -u blitz -- "\$0" "\$@"
fi
if [ -r "$ETC/blitz.env" ]; then
  set -a
  . "$ETC/blitz.env"
  set +a
fi
BLITZ_CONFIG=\${BLITZ_CONFIG:-$ETC/blitz.yaml}
DENO_DIR=\${DENO_DIR:-$DATA/.deno}
export BLITZ_CONFIG DENO_DIR
exec "$OPT/deno" run $FLAGS "$OPT/blitz.js" "\$@"
LAUNCHER
chmod 0755 "$OPT/blitz"


# Config: only what is missing (an upgrade keeps the host's config and secrets).
if [ ! -e "$ETC/blitz.yaml" ]; then
  sed -e "s|^detectors_dir: .*|detectors_dir: $ETC/detectors|" -e "s|^data_dir: .*|data_dir: $DATA|" \
    -e "s|^plugin_dirs: .*|plugin_dirs: []|" "$REPO/blitz.yaml" >"$ETC/blitz.yaml"
  grep -q '^ingest_tokens:' "$ETC/blitz.yaml" ||
    printf '\n# Bearer tokens NiFi and other senders present to POST /ingest/<detector>.\ningest_tokens: ["${env:BLITZ_INGEST_TOKEN}"]\n' >>"$ETC/blitz.yaml"
fi
for file in "$REPO"/detectors/*.yaml; do
  [ -e "$ETC/detectors/$(basename "$file")" ] || install -m 0644 "$file" "$ETC/detectors/"
done
if [ ! -e "$ETC/blitz.env" ]; then
  umask 077
  {
    echo "# Secrets for blitz.yaml's \${env:NAME} references (KEY=value lines; read by the service and the launcher)."
    echo "BLITZ_ACTION_KEY=$(head -c 32 /dev/urandom | base64)"
    echo "BLITZ_INGEST_TOKEN=$(head -c 32 /dev/urandom | base64 | tr -d '=+/')"
    echo "# JIRA_USER=blitz"
    echo "# JIRA_TOKEN=..."
  } >"$ETC/blitz.env"
  umask 022
fi

if [ -z "$PREFIX" ]; then
  if ! id blitz >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin blitz
  fi
  chown -R root:blitz "$ETC"
  chmod 0750 "$ETC" "$ETC/detectors"
  chmod 0640 "$ETC/blitz.env"
  chown -R blitz:blitz "$DATA"
  chmod 0750 "$DATA"
  command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload || true
fi

echo "Blitz installed: $OPT/blitz (launcher), $ETC (config), $DATA (data), $UNIT_DIR/blitz.service"
echo "Next: edit $ETC/blitz.yaml and $ETC/blitz.env, run $OPT/blitz check, then systemctl enable --now blitz"
