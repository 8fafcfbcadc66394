/* sim_int: what the sim_ modules share: state, requests, replies, helpers. */
#ifndef SIM_INT_H
#define SIM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <jv.h>

#include "sim.h"

/*
 * Ownership: every function here that takes a jv consumes it unless its
 * comment says "borrows".  struct sim_req is borrowed by the handlers; a
 * handler fills the struct sim_reply it is given, and sim_reply_release frees
 * what it holds.  Everything in struct sim below `mu` is read and written
 * only with `mu` held (the handlers are called with it held).
 */

#define SIM_BODY_MAX     (32u << 20)  /* the Messages API's request limit */
#define SIM_BODY_TOTAL   (256u << 20) /* buffered bodies, all connections */
#define SIM_CONN_MAX     128
#define SIM_MAX_OPS      1000
#define SIM_MAX_FAULTS   64
#define SIM_MAX_LOG      500
#define SIM_CACHE_SLOTS  1024
#define SIM_HANG_MAX_S   900          /* a hang never outlives this */

enum sim_op_type { SIM_TRAINING, SIM_BACKTEST };
enum sim_op_status { SIM_PENDING, SIM_RUNNING, SIM_COMPLETED, SIM_FAILED, SIM_CANCELLED };

struct sim_op {
	char id[64];
	char parent[64];
	enum sim_op_type type;
	enum sim_op_status status;
	uint64_t seq;          /* 1-based, per type: keys the outcome */
	double duration;       /* simulated seconds of running */
	int steps;             /* epochs or bars */
	double t_created;      /* simulated seconds since the sim started */
	double t_run;          /* when the current run segment starts */
	double base;           /* progress (0..1) at t_run */
	double fail_at;        /* progress at which it fails; > 1: never */
	int checkpoint;        /* a failure leaves a resumable checkpoint */
	int started;
	double t_started, t_done;
	double progress;       /* frozen at the terminal transition */
	int resumes;
	char runtime_error[256]; /* the strategy fails when training builds it */
	char error[256];
	char reason[256];      /* cancellation reason */
	jv request;            /* the validated start request */
};

struct sim_fault {
	int id;
	char route[64];
	char method[8];
	int count;             /* 0: until cleared */
	int used;
	double probability;
	uint64_t seen;
	int status, retry_after, should_retry;  /* -1 when unset */
	int latency_ms;
	int hang, drop, malformed, truncated, refusal, stream_error;
	int fail, checkpoint;
	double unavailable_s;
	int64_t until_mono;    /* end of the unavailable window */
	char error_type[48];
	char error_code[64];
	char message[256];
	char category[32];
	double bill_factor;    /* > 0: the call is billed at this many times its tokens */
	char tool_use[4096];   /* {"name","input"} the scripted reply calls, as JSON text */
	double pad_bytes;      /* with tool_use: a "padding" string of this size in its input */
};

struct sim_cache_ent {
	uint64_t key;
	int64_t expires_mono;
	int ttl_s;
};

#define SIM_MAX_BATCHES 256
#define SIM_MAX_BILLS 512
#define SIM_TOK_N 5   /* uncached input, output, cache read, cache write 5m, 1h */

/* What the Messages API billed one model on one UTC day (sim_admin.c). */
struct sim_bill {
	char day[11];
	char model[96];
	int64_t tok[SIM_TOK_N];
	int64_t pico[SIM_TOK_N];  /* pico-dollars per class */
	int64_t calls;
	int priced;               /* the model has a price */
};

/* A Message Batch: its results are made when it is created and shown when
 * it ends (sim_model.c). */
struct sim_batch {
	char id[48];
	double t_created, t_end, t_cancel;
	int canceled, expire;
	jv results;             /* [{custom_id, result}] */
};

struct sim {
	struct sim_config cfg;
	char host[64];          /* as printed in URLs ("[::1]" for IPv6) */
	char bind_host[64];
	char port_text[16];
	int port;
	int lfd;
	char api_key[256];      /* the only key accepted, when not empty */
	char strategies[4096];  /* cfg.strategies points here */
	void *mhd;              /* struct MHD_Daemon */
	int64_t wall0_us, mono0_us;
	atomic_int stopping;
	atomic_size_t body_bytes;

	pthread_mutex_t mu;
	uint64_t n_requests, n_messages, n_designs;
	uint64_t n_trainings, n_backtests, n_ids;
	struct sim_op *ops[SIM_MAX_OPS];
	int nops;
	struct sim_fault faults[SIM_MAX_FAULTS];
	int nfaults, next_fault;
	struct sim_cache_ent cache[SIM_CACHE_SLOTS];
	jv log;                 /* recorded requests, oldest first */
	struct sim_batch batches[SIM_MAX_BATCHES];
	int nbatches;
	struct sim_bill bills[SIM_MAX_BILLS];
	int nbills;
	jv prices;              /* pricing.json's models, read on first use */
	int agent_active;       /* the platform's own research agent (GET /agent/status) */
	char agent_phase[32];
	char agent_op[40];
};

/* One request, as the handlers see it. */
struct sim_req {
	const char *method;
	const char *path;       /* without the query string */
	const char *body;
	size_t len;
	jv json;                /* the parsed body, or invalid (borrowed) */
	const char *json_error; /* why json is invalid when a body was sent */
	void *conn;             /* struct MHD_Connection */
	uint64_t seq;
};

const char *sim_req_header(const struct sim_req *rq, const char *name);
const char *sim_req_arg(const struct sim_req *rq, const char *name);

enum sim_mode { SIM_SEND, SIM_DROP, SIM_HANG, SIM_TRUNCATE, SIM_STREAM };

#define SIM_HDR_MAX 10

struct sim_reply {
	int status;
	enum sim_mode mode;
	int delay_ms;
	char *body;             /* malloc'd; for SIM_STREAM the whole event text */
	size_t len;
	const char *ctype;
	int nhdr;
	struct { char name[40]; char value[160]; } hdr[SIM_HDR_MAX];
	char note[64];          /* what a fault did, for the request log */
};

void sim_reply_header(struct sim_reply *rp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets status and a JSON body (consumes body). */
void sim_reply_json(struct sim_reply *rp, int status, jv body);
void sim_reply_release(struct sim_reply *rp);

/* FastAPI-style error bodies for the backend routes. */
void sim_reply_detail(struct sim_reply *rp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Deterministic numbers: a 64-bit mix, a keyed hash, a stream of uniforms. */
uint64_t sim_mix(uint64_t x);
uint64_t sim_hash(uint64_t seed, uint64_t stream, uint64_t n);
double sim_unit(uint64_t *state);
double sim_range(uint64_t *state, double lo, double hi);
/* "<prefix>" + n base62 characters drawn from the id stream (mu held). */
void sim_make_id(struct sim *s, const char *prefix, int n, char *out, size_t size);

/* Simulated seconds since start, and the wall time of a simulated instant. */
double sim_now(struct sim *s);
int64_t sim_wall_us(struct sim *s, double t);
int64_t sim_mono_us(void);
/* "2026-11-24T03:20:00.123Z" (buf >= 32) */
char *sim_iso(int64_t us, char *buf);

/* sim_fault.c: the fault table (mu held). */
enum sim_stage {
	SIM_STAGE_PRE,   /* before a route runs: status, latency, hang, drop, ... */
	SIM_STAGE_POST,  /* a valid model request: refusal, stream_error */
	SIM_STAGE_OP,    /* an operation is created: fail */
};

struct sim_hit {
	int action;          /* 1 when f holds the fault that acts */
	int latency_ms;
	struct sim_fault f;
};

int sim_fault_add(struct sim *s, jv spec, jv *added, struct err *e);
/* Finds the faults that apply to this request and consumes their counts.
 * path is the URL path, or for SIM_STAGE_OP "training" or "backtest". */
void sim_fault_take(struct sim *s, enum sim_stage stage, const char *path,
		    const char *method, int streaming, struct sim_hit *hit);
jv sim_fault_list(struct sim *s);
void sim_fault_clear(struct sim *s);

/* sim_backend.c: the research backend under /api/v1 (mu held). */
void sim_backend_handle(struct sim *s, const struct sim_req *rq, struct sim_reply *rp);
jv sim_backend_ops(struct sim *s);
void sim_backend_free(struct sim *s);

/* sim_strategy.c: the strategy directory (cfg.strategies), read as the
 * platform reads it.  load: 0, -1 no such file, -2 unreadable or not a
 * mapping (msg says which); check: the platform's load-time messages
 * (borrows cfg; empty array: accepted); runtime: 1 and the operation's
 * error when training would fail building the strategy's engines. */
int sim_strategy_name_ok(const char *name);
/* YAML text (borrowed) as yaml.safe_load types it, or invalid with a
 * message; load uses it, the fuzzer (t/fuzz/strategy.c) too. */
jv sim_strategy_yaml(const char *text, size_t len);
int sim_strategy_load(struct sim *s, const char *name, jv *cfg, char *msg, size_t size);
int sim_strategy_is_v3(jv cfg);
jv sim_strategy_check(jv cfg);
int sim_strategy_runtime(jv cfg, char *msg, size_t size);
void sim_strategy_validate(struct sim *s, const char *name, struct sim_reply *rp);

/* sim_model.c: the Messages API under /v1 (mu held). */
void sim_model_handle(struct sim *s, const struct sim_req *rq, struct sim_reply *rp);
/* An error in the API's envelope; code (may be NULL) goes to details. */
void sim_model_error(struct sim *s, struct sim_reply *rp, int status, const char *type,
		     const char *code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* sim_agent.c: the scripted agent.  Borrows req (a validated request);
 * returns the content blocks of the next assistant turn and sets *stop. */
jv sim_agent_turn(struct sim *s, jv req, const char **stop);

/* sim_admin.c: the Usage & Cost Admin API (mu held).  bill records a call's
 * tokens (tok in SIM_TOK_N order) times factor for its model and UTC day. */
void sim_admin_bill(struct sim *s, const char *model, const int64_t tok[SIM_TOK_N], double factor);
int sim_admin_auth(struct sim *s, const struct sim_req *rq, struct sim_reply *rp);
void sim_admin_handle(struct sim *s, const struct sim_req *rq, struct sim_reply *rp);

/* sim_http.c: the server. */
int sim_http_start(struct sim *s, struct err *e);
void sim_http_stop(struct sim *s);

#endif
