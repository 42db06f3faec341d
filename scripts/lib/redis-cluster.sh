# Throwaway Redis Cluster and Sentinel deployments for the tests of the Redis sink's cluster and
# Sentinel modes. Sourced by services.sh; needs redis-server and redis-cli (start_services installs them).
#   start_redis_cluster WORKDIR   six cluster-enabled redis-server processes on free loopback ports,
#                                 joined by `redis-cli --cluster create … --cluster-replicas 1` into three
#                                 primaries with one replica each; exports SYNC_TEST_REDIS_CLUSTER
#                                 (host:port,host:port,… of all six nodes).
#   start_redis_sentinel WORKDIR  a primary, its replica and three sentinels watching them as service
#                                 "sync-test" (quorum 2); exports SYNC_TEST_REDIS_SENTINEL
#                                 (sync-test@host:port,host:port,host:port: the service, then the sentinels).
#   stop_redis_cluster / stop_redis_sentinel stop what the matching start started.
#   crash_redis_cluster_primary DIR  kill -9 of one primary (chosen at random) of the cluster started with
#                                 start_redis_cluster DIR; once its replica took over, the killed node is
#                                 started again from its folder and rejoins as a replica (the chaos campaign's
#                                 redis-cluster-crash fault). Exit 0 when all of that happened.
# (Cluster setup: https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/ ;
# Sentinel configuration: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/)

redis_cluster_log() { echo "redis-cluster: $*" >&2; }

# Starts one daemonized redis-server with its data, pid and log in DIR; the extra arguments are settings.
redis_cluster_start_node() {
  local dir="$1" port="$2"; shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" "$@" >/dev/null || return 1
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}

redis_cluster_stop_dirs() {
  local pidfile
  for pidfile in "$@"; do [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null; done
  return 0
}

start_redis_cluster() {
  REDIS_CLUSTER_DIR="$1/redis-cluster"
  local ports=() nodes=() port i
  for i in 1 2 3 4 5 6; do
    port=$(services_free_port)
    # A node's cluster bus listens on port + 10000 (the default cluster-port): both must be free.
    while (echo >/dev/tcp/127.0.0.1/$((port + 10000))) 2>/dev/null || [[ $port -gt 55000 ]]; do port=$(services_free_port); done
    # node-timeout 2000: a killed primary is failed over within seconds in the tests that kill one.
    redis_cluster_start_node "$REDIS_CLUSTER_DIR/$i" "$port" --cluster-enabled yes \
      --cluster-config-file "$REDIS_CLUSTER_DIR/$i/nodes.conf" --cluster-node-timeout 2000 \
      || { redis_cluster_log "node $i on port $port did not start"; stop_redis_cluster; return 1; }
    ports+=("$port"); nodes+=("127.0.0.1:$port")
  done
  if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$REDIS_CLUSTER_DIR/create.log" 2>&1; then
    cat "$REDIS_CLUSTER_DIR/create.log" >&2; redis_cluster_log "redis-cli --cluster create failed"; stop_redis_cluster; return 1
  fi
  # Every node must see all slots served before the tests start (cluster_state:ok on each).
  for port in "${ports[@]}"; do
    for _ in $(seq 200); do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break; sleep 0.05
    done
  done
  # And every replica must have finished its first sync: until then its primary counts no replica (ROLE),
  # and a replica that never synced refuses to fail over (its data age exceeds cluster-replica-validity-factor).
  for port in "${ports[@]}"; do
    for _ in $(seq 200); do
      redis-cli -p "$port" info replication 2>/dev/null | grep -q '^role:master\|^master_link_status:up' && break; sleep 0.05
    done
  done
  export SYNC_TEST_REDIS_CLUSTER
  SYNC_TEST_REDIS_CLUSTER="$(IFS=,; echo "${nodes[*]}")"
  redis_cluster_log "cluster on $SYNC_TEST_REDIS_CLUSTER"
}

stop_redis_cluster() {
  [[ -n "${REDIS_CLUSTER_DIR:-}" ]] || return 0
  redis_cluster_stop_dirs "$REDIS_CLUSTER_DIR"/*/redis.pid
}

# The port a node of the cluster folder listens on: its own line of nodes.conf ("myself", host:port@bus).
redis_cluster_node_port() {
  local line
  line=$(grep -m1 myself "$1/nodes.conf" 2>/dev/null) || return 1
  line=${line#* }; line=${line%%@*}; echo "${line##*:}"
}

crash_redis_cluster_primary() {
  local dir="$1/redis-cluster" node port primaries=() victim victim_port victim_id heir ok
  for node in "$dir"/*; do
    port=$(redis_cluster_node_port "$node") || continue
    [[ "$(redis-cli -p "$port" role 2>/dev/null | head -n 1)" == master ]] && primaries+=("$node")
  done
  [[ ${#primaries[@]} -gt 0 ]] || { redis_cluster_log "no primary answers"; return 1; }
  victim=${primaries[$((RANDOM % ${#primaries[@]}))]}
  victim_port=$(redis_cluster_node_port "$victim")
  victim_id=$(grep -m1 myself "$victim/nodes.conf" | cut -d' ' -f1)
  # Its replica (CLUSTER NODES: id, address@bus, flags, primary id, …) is the one that must take over;
  # the killed node, started again before that, would come back as a primary of its slots, empty.
  heir=$(redis-cli -p "$victim_port" cluster nodes | awk -v id="$victim_id" '$4 == id && $3 !~ /fail/ { split($2, a, "@"); print a[1]; exit }')
  [[ -n "$heir" ]] || { redis_cluster_log "127.0.0.1:$victim_port has no live replica"; return 1; }
  kill -9 "$(cat "$victim/redis.pid")" || return 1
  ok=0
  for _ in $(seq 600); do
    if [[ "$(redis-cli -p "${heir##*:}" role 2>/dev/null | head -n 1)" == master ]] \
      && redis-cli -p "${heir##*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then ok=1; break; fi
    sleep 0.05
  done
  [[ $ok -eq 1 ]] || { redis_cluster_log "$heir did not take over from 127.0.0.1:$victim_port"; return 1; }
  redis_cluster_start_node "$victim" "$victim_port" --cluster-enabled yes \
    --cluster-config-file "$victim/nodes.conf" --cluster-node-timeout 2000 || return 1
  for _ in $(seq 600); do
    redis-cli -p "$victim_port" info replication 2>/dev/null | grep -q '^master_link_status:up' && return 0; sleep 0.05
  done
  redis_cluster_log "127.0.0.1:$victim_port did not rejoin as a replica"; return 1
}

start_redis_sentinel() {
  REDIS_SENTINEL_DIR="$1/redis-sentinel"
  local primary replica port i sentinels=()
  primary=$(services_free_port)
  redis_cluster_start_node "$REDIS_SENTINEL_DIR/primary" "$primary" \
    || { redis_cluster_log "the sentinel's primary did not start"; return 1; }
  replica=$(services_free_port)
  redis_cluster_start_node "$REDIS_SENTINEL_DIR/replica" "$replica" --replicaof 127.0.0.1 "$primary" \
    || { redis_cluster_log "the sentinel's replica did not start"; stop_redis_sentinel; return 1; }
  for i in 1 2 3; do
    port=$(services_free_port)
    mkdir -p "$REDIS_SENTINEL_DIR/sentinel$i"
    # Sentinel rewrites its configuration file, so each gets its own (down-after 1 s, failover 5 s: fast tests).
    cat >"$REDIS_SENTINEL_DIR/sentinel$i/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $REDIS_SENTINEL_DIR/sentinel$i/redis.pid
logfile $REDIS_SENTINEL_DIR/sentinel$i/sentinel.log
dir $REDIS_SENTINEL_DIR/sentinel$i
sentinel monitor sync-test 127.0.0.1 $primary 2
sentinel down-after-milliseconds sync-test 1000
sentinel failover-timeout sync-test 5000
sentinel parallel-syncs sync-test 1
EOF
    redis-server "$REDIS_SENTINEL_DIR/sentinel$i/sentinel.conf" --sentinel >/dev/null \
      || { redis_cluster_log "sentinel $i did not start"; stop_redis_sentinel; return 1; }
    sentinels+=("127.0.0.1:$port")
  done
  for port in "${sentinels[@]}"; do
    for _ in $(seq 100); do
      redis-cli -p "${port##*:}" sentinel get-master-addr-by-name sync-test >/dev/null 2>&1 && break; sleep 0.05
    done
  done
  export SYNC_TEST_REDIS_SENTINEL
  SYNC_TEST_REDIS_SENTINEL="sync-test@$(IFS=,; echo "${sentinels[*]}")"
  redis_cluster_log "sentinels on $SYNC_TEST_REDIS_SENTINEL (primary 127.0.0.1:$primary, replica 127.0.0.1:$replica)"
}

stop_redis_sentinel() {
  [[ -n "${REDIS_SENTINEL_DIR:-}" ]] || return 0
  redis_cluster_stop_dirs "$REDIS_SENTINEL_DIR"/*/redis.pid
}
