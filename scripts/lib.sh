# Shared by the ensure-* scripts: messages, failure, and running a command as root.
# Source it after setting SCRIPT_NAME.

say() { echo "${SCRIPT_NAME}: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

# Run a command as root: directly when root, through sudo when it exists, else fail.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "'$*' needs root, and this user is not root and has no sudo. ${ROOT_HINT:-Run it as root, then retry.}"
    fi
}
