#!/bin/sh
# Entrypoint of the sandbox and MCP images (runs under tini).
# - Drops SANDBOX_*, MCP_* and LOG_LEVEL variables that are set but empty: compose passes an unset
#   `${VAR:-}` as "", which the services' config would reject or read as 0.
# - MCP image (SCI_MCP_AUTO_TRANSPORT=1): without MCP_TRANSPORT, serve stdio when stdin is a pipe
#   (`docker run -i`) and Streamable HTTP otherwise (`docker run -d`, compose).
set -eu

for name in $(env | sed -n 's/^\(SANDBOX_[A-Z0-9_]*\|MCP_[A-Z0-9_]*\|LOG_LEVEL\)=$/\1/p'); do
  unset "$name"
done

if [ "${SCI_MCP_AUTO_TRANSPORT:-}" = 1 ] && [ -z "${MCP_TRANSPORT:-}" ]; then
  if [ -p /dev/stdin ]; then MCP_TRANSPORT=stdio; else MCP_TRANSPORT=http; fi
  export MCP_TRANSPORT
fi
unset SCI_MCP_AUTO_TRANSPORT

exec "$@"
