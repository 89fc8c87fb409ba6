/* main.c — the command line: serve a script, check a script, start a project, version and
 * help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cluster.h"
#include "config.h"
#include "guard.h"
#include "listener.h"
#include "log.h"
#include "lua_bridge.h"
#include "new_project.h"
#include "outbound_http.h"
#include "outbound_nats.h"
#include "outbound_redis.h"
#include "parent.h"
#include "server.h"
#include "timer.h"
#include "workers.h"

#define LUAHUB_VERSION "0.1.0"

static const char usage[] =
    "usage: luahub [options] SCRIPT       serve SCRIPT (a hub.lua)\n"
    "       luahub check [options] SCRIPT load and validate SCRIPT, print problems\n"
    "       luahub new DIR                a starter project in DIR (new or empty): hub.lua,\n"
    "                                     its spec, .busted, README.md, a systemd unit\n"
    "       luahub --version | --help\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT     address to listen on (default 127.0.0.1:8080, or hub.config listen)\n"
    "  --config JSON          JSON object merged over the script's hub.config{}\n"
    "  --log-level LEVEL      debug | info | warn | error (default info)\n"
    "  --log-format FORMAT    text | json (default text)\n"
    "  --parent-pid PID       stop when process PID ends (luahub.testing passes the spec's)\n"
    "  --time-scale X         script timers and hub.sleep take X times their seconds (specs:\n"
    "                         0.01 fires a 30 s hub.every every 0.3 s; hub.now is not scaled)\n"
    "  --workers N|auto       a master process runs N workers on the one port (SO_REUSEPORT;\n"
    "                         auto: one per CPU), restarts one that dies or hangs, passes\n"
    "                         signals on; give the script a cluster so rooms span them\n"
    "  --watchdog SECONDS     --workers: a worker whose loop sends no ping for this long is\n"
    "                         killed and restarted (default 10)\n"
    "\n"
    "signals: SIGHUP reloads the script; SIGTERM / SIGINT close clients (1001) and stop.\n"
    "With --workers the master passes them on to every worker.\n";

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "luahub: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* --workers: the master (workers.c) runs this command line again per worker, less
 * the master's own options. */
static int serve_workers(int argc, char **argv, const char *count_text, const char *watchdog_text,
                         int parent_pid)
{
    int count = workers_parse_count(count_text);
    if (count < 0) die("--workers '%s' is not auto or a number from 1 to 64%s", count_text, "");
    double watchdog = WORKERS_WATCHDOG_DEFAULT;
    if (watchdog_text) {
        char *end;
        watchdog = strtod(watchdog_text, &end);
        if (*end || !(watchdog >= 0.1) || watchdog > 3600)
            die("--watchdog '%s' is not a number of seconds from 0.1 to 3600%s", watchdog_text, "");
    }
    char **worker_argv = calloc((size_t)argc + 1, sizeof *worker_argv);
    if (!worker_argv) die("out of memory%s%s", "", "");
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (strcmp(argv[i], "--workers") == 0 || strcmp(argv[i], "--watchdog") == 0 ||
                      strcmp(argv[i], "--parent-pid") == 0)) {
            i++;
            continue;
        }
        worker_argv[n++] = argv[i];
    }
    static char tag[] = "master";
    log_process = tag;
    int status = workers_run(count, watchdog, worker_argv, parent_pid);
    free(worker_argv);
    return status;
}

int main(int argc, char **argv)
{
    const char *script = NULL, *listen = NULL, *json = NULL;
    const char *level = NULL, *format = NULL, *parent = NULL, *time_scale = NULL;
    const char *workers = NULL, *watchdog = NULL, *worker = NULL;
    int check = 0;
    if (argc >= 2 && strcmp(argv[1], "new") == 0) {
        if (argc != 3 || argv[2][0] == '-') die("usage: luahub new DIR%s%s", "", "");
        return new_project(argv[2]);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("luahub %s\n", LUAHUB_VERSION);
            return 0;
        }
        const char **opt = strcmp(a, "--listen") == 0     ? &listen
                         : strcmp(a, "--config") == 0     ? &json
                         : strcmp(a, "--log-level") == 0  ? &level
                         : strcmp(a, "--log-format") == 0 ? &format
                         : strcmp(a, "--parent-pid") == 0 ? &parent
                         : strcmp(a, "--time-scale") == 0 ? &time_scale
                         : strcmp(a, "--workers") == 0    ? &workers
                         : strcmp(a, "--watchdog") == 0   ? &watchdog
                         : strcmp(a, "--worker") == 0     ? &worker : NULL;
        if (opt) {
            if (i + 1 >= argc) die("option %s needs a value%s", a, "");
            *opt = argv[++i];
        } else if (strcmp(a, "check") == 0 && !script && !check) {
            check = 1;
        } else if (a[0] == '-' && a[1]) {
            die("unknown option '%s' (see luahub --help)%s", a, "");
        } else if (script) {
            die("more than one script given ('%s' and '%s')", script, a);
        } else {
            script = a;
        }
    }
    if (!script) die("no script given (usage: luahub [options] SCRIPT; see --help)%s%s", "", "");
    long parent_pid = 0;
    if (parent) {
        char *end;
        parent_pid = strtol(parent, &end, 10);
        if (*end || parent_pid <= 0 || parent_pid > 0x7fffffff)
            die("--parent-pid '%s' is not a process id%s", parent, "");
    }
    if (level) {
        int l = log_level_parse(level);
        if (l < 0) die("--log-level '%s' is not one of debug, info, warn, error%s", level, "");
        log_min_level = (enum log_level)l;
        log_pinned_level = 1;
    }
    if (format) {
        int f = log_format_parse(format);
        if (f < 0) die("--log-format '%s' is not one of text, json%s", format, "");
        log_output_format = (enum log_format)f;
        log_pinned_format = 1;
    }

    if (workers && !check) return serve_workers(argc, argv, workers, watchdog, (int)parent_pid);
    if (watchdog) die("--watchdog goes with --workers%s%s", "", "");

    if (time_scale) {
        char *end;
        double x = strtod(time_scale, &end);
        if (*end || !(x > 0) || x > 1e6) die("--time-scale '%s' is not a number > 0%s", time_scale, "");
        timer_set_scale(x);
    }

    int worker_index = -1;
    if (worker) {
        char *end;
        long i = strtol(worker, &end, 10);
        if (*end || i < 0 || i >= WORKERS_MAX || !parent)
            die("--worker '%s' is set by the master of --workers only%s", worker, "");
        worker_index = (int)i;
        cluster_set_worker(worker_index, (int)parent_pid);
        static char tag[16];
        snprintf(tag, sizeof tag, "w%d", worker_index);
        log_process = tag;
    }

    config_defaults(&config);
    app_wire();
    char err[4096];
    guard_configure(config.script_timeout, config.script_memory);
    if (guard_start(err, sizeof err) != 0) {
        fprintf(stderr, "luahub: %s\n", err);
        return 1;
    }
    if (lua_bridge_load(script, json, err, sizeof err) != 0) {
        fprintf(stderr, "luahub: %s\n", err);
        return 1;
    }
    if (check) {
        printf("%s: ok\n", script);
        outbound_redis_shutdown();
        lua_bridge_shutdown();
        config_free(&config);
        return 0;
    }
    if (listen) {
        free(config.listen);
        config.listen = strdup(listen);
    }
    if (worker_index >= 0) {
        /* every worker binds the port itself; the kernel spreads connections over them */
        config.reuse_port = 1;
        if (worker_index == 0 && !config.cluster_adapter)
            log_warn(0, "--workers without a cluster: rooms, users and broadcasts stay within each "
                        "worker (configure cluster = { adapter = ..., url = ... } to share them)");
    }
    if (parent) {
        if (parent_watch((int)parent_pid, server_stop_now, err, sizeof err) != 0) {
            fprintf(stderr, "luahub: %s\n", err);
            return 1;
        }
    }
    server_hold_signals();
    if (listener_open(config.listen, config.reuse_port, err, sizeof err) != 0) {
        fprintf(stderr, "luahub: %s\n", err);
        return 1;
    }
    if (cluster_start(err, sizeof err) != 0) {
        /* a bad cluster.url is found only here, with the script loaded: freed as at exit */
        log_error(0, "%s", err);
        outbound_redis_shutdown();
        lua_bridge_shutdown();
        config_free(&config);
        return 1;
    }
    app_wire_cluster();
    int status = server_run();
    outbound_http_shutdown();   /* while the script can still take the "closed" results */
    outbound_redis_shutdown();
    outbound_nats_shutdown();
    cluster_stop();
    lua_bridge_shutdown();
    config_free(&config);
    return status;
}
