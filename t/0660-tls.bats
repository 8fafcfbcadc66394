#!/usr/bin/env bats
# TLS and proxies as operators have them: certificate verification is on
# (a self-signed loopback server is refused), a private CA is given with
# AGENT_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE or SSL_CERT_DIR, and an
# HTTPS_PROXY (libcurl's) is used for a CONNECT tunnel, NO_PROXY honoured.
# Every peer is on 127.0.0.1 (t/helpers/tls-peer); every wait is bounded.
# The HTTPS client under test is one function for every peer (the model
# API, the backend, OTLP, the Pushgateway, notices): here the Pushgateway
# push and the OTLP export exercise it.

load helpers/common

setup() {
	fresh_store
	unset AGENT_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR HTTPS_PROXY https_proxy
	unset HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy AGENT_METRICS_TEXTFILE
	unset AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL OTEL_EXPORTER_OTLP_ENDPOINT
	PEERS=()
	local d=$BATS_TEST_TMPDIR
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 2 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
	peer_start "$d/tls" server "$d/cert.pem" "$d/key.pem"
	TLS_PORT=$(cat "$d/tls/port")
}

teardown() {
	local p
	for p in "${PEERS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	drop_store
	return 0
}

# peer_start DIR MODE [ARGS]: t/helpers/tls-peer MODE DIR ARGS, until its port is known (5 s)
peer_start() {
	local dir=$1 mode=$2
	shift 2
	mkdir -p "$dir"
	python3 "$BATS_TEST_DIRNAME/helpers/tls-peer" "$mode" "$dir" "$@" 3>&- &
	PEERS+=($!)
	for _ in $(seq 100); do
		[ -s "$dir/port" ] && return 0
		sleep 0.05
	done
	echo "tls-peer $mode did not start" >&2
	return 1
}

push() { AGENT_PUSHGATEWAY_URL="https://127.0.0.1:$TLS_PORT" agent-metrics-agg --deliver; }

@test "a self-signed server is refused by default, with a hint; nothing reaches it" {
	run -4 --separate-stderr push
	assert_equal "$stderr" "agent-metrics-agg: push: PUT /metrics/job/agent/agent/default: TLS verification failed: SSL peer certificate or SSH remote key was not OK (a private CA: AGENT_CA_BUNDLE=FILE)"
	[ -z "$(find "$BATS_TEST_TMPDIR/tls" -name 'req-*')" ]
}

@test "AGENT_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE and SSL_CERT_DIR each name the CA that signed it" {
	local v n=0 d=$BATS_TEST_TMPDIR
	for v in AGENT_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE; do
		n=$((n + 1))
		env "$v=$d/cert.pem" AGENT_PUSHGATEWAY_URL="https://127.0.0.1:$TLS_PORT" \
			agent-metrics-agg --deliver 2>"$d/err" || fail "$v: $(cat "$d/err")"
		assert_equal "$(head -n 1 "$d/tls/req-$n")" "PUT /metrics/job/agent/agent/default"
		grep -q '^agent_cycles_started_total{agent="default"} 0$' "$d/tls/req-$n"
	done
	# a directory of hashed certificates (openssl rehash), as OpenSSL reads one
	mkdir -p "$d/cadir"
	cp "$d/cert.pem" "$d/cadir/private-ca.pem"
	openssl rehash "$d/cadir" 2>/dev/null || c_rehash "$d/cadir" >/dev/null
	SSL_CERT_DIR="$d/cadir" run -0 --separate-stderr push
	assert_equal "$stderr" ""
	[ -s "$d/tls/req-4" ]
	# AGENT_CA_BUNDLE wins over the others
	AGENT_CA_BUNDLE="$d/cert.pem" CURL_CA_BUNDLE=/nonexistent run -0 --separate-stderr push
	# a bundle that is not there: said, by its name
	AGENT_CA_BUNDLE="$d/missing.pem" run -4 --separate-stderr push
	assert_equal "$stderr" "agent-metrics-agg: push: PUT /metrics/job/agent/agent/default: cannot use the CA bundle '$d/missing.pem' (AGENT_CA_BUNDLE, CURL_CA_BUNDLE or SSL_CERT_FILE)"
}

@test "HTTPS_PROXY: the push goes through a CONNECT tunnel, verified end to end; NO_PROXY bypasses it" {
	local d=$BATS_TEST_TMPDIR
	peer_start "$d/proxy" proxy
	export HTTPS_PROXY="http://127.0.0.1:$(cat "$d/proxy/port")" AGENT_CA_BUNDLE="$d/cert.pem"
	run -0 --separate-stderr push
	assert_equal "$stderr" ""
	assert_equal "$(cat "$d/proxy/connects")" "127.0.0.1:$TLS_PORT"
	[ -s "$d/tls/req-1" ]
	# the tunnel does not relax verification
	AGENT_CA_BUNDLE= run -4 --separate-stderr push
	[[ "$stderr" == *"TLS verification failed"* ]] || fail "$stderr"
	# NO_PROXY: straight to the server
	NO_PROXY=127.0.0.1 run -0 --separate-stderr push
	assert_equal "$(wc -l <"$d/proxy/connects")" 2
	[ -s "$d/tls/req-2" ]
}

@test "the OTLP export over https takes the same CA bundle" {
	local d=$BATS_TEST_TMPDIR
	export OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:$TLS_PORT"
	run -0 --separate-stderr agent-db migrate
	[[ "$stderr" == *"trace export"*"TLS verification failed"* ]] || fail "no export failure said: $stderr"
	AGENT_CA_BUNDLE="$d/cert.pem" run -0 --separate-stderr agent-db migrate
	assert_equal "$stderr" ""
	assert_equal "$(head -n 1 "$(find "$d/tls" -name 'req-*' | head -n 1)")" "POST /v1/traces"
}
