/* Engines that run imago-runner-<target> in a child process: natively (the i386
 * runner on an x86_64 host) or under qemu-<target>. The image goes to the
 * runner's standard input through an anonymous memory file; its one result
 * line comes back on standard output (docs/engines.md). */
#include "emu_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

extern char **environ;

#define OUTPUT_LIMIT (1u << 20) /* bytes kept of each of stdout and stderr */

struct exec_priv {
    char runner[4096];  /* path of imago-runner-<target> */
    char launcher[256]; /* "qemu-<target>", $IMAGO_NATIVE_LAUNCHER, or "" to run it directly */
    uint8_t *image;     /* serialised image holding only the target's section */
    size_t image_len;
};

struct outbuf {
    char *p;
    size_t n, cap;
};

/* Is prog (no slash) an executable file in a $PATH directory? */
static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        if (n == 0)
            snprintf(buf, sizeof buf, "./%s", prog);
        else
            snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0)
            return 1;
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

static int exec_open_common(im_emu *emu, int use_qemu)
{
    struct exec_priv *p = calloc(1, sizeof *p);
    if (!p)
        return im_fail(IM_ERR_NOMEM, "engine state");
    const char *tn = im_target_name(emu->target);
    char dir[4096];
    int err = im_emu_runner_dir(dir, sizeof dir);
    if (err) {
        free(p);
        return err;
    }
    if ((size_t)snprintf(p->runner, sizeof p->runner, "%s/imago-runner-%s", dir, tn) >=
        sizeof p->runner) {
        free(p);
        return im_fail(IM_ERR_INVAL, "runner path is too long");
    }
    if (access(p->runner, X_OK) != 0) {
        err = im_fail(IM_ERR_ENGINE,
                      "runner %s is missing (%s); build it with 'make runners' or set "
                      "IMAGO_RUNNER_DIR",
                      p->runner, strerror(errno));
        free(p);
        return err;
    }
    if (use_qemu) {
        snprintf(p->launcher, sizeof p->launcher, "qemu-%s", tn);
        if (!on_path(p->launcher)) {
            err = im_fail(IM_ERR_ENGINE, "%s is not installed (not found on PATH)", p->launcher);
            free(p);
            return err;
        }
    } else {
        /* A host that is itself emulated (imago built for aarch64 running under
         * qemu-aarch64 on an x86-64 machine without binfmt_misc) cannot exec its own
         * runner directly; IMAGO_NATIVE_LAUNCHER names the command that starts a host
         * binary there (docs/engines.md). */
        const char *l = getenv("IMAGO_NATIVE_LAUNCHER");
        if (l && *l) {
            /* One word; %t stands for the target's name ("qemu-%t"). */
            size_t n = 0;
            int bad = strchr(l, ' ') != NULL;
            for (const char *c = l; *c && !bad; c++) {
                const char *piece = c;
                size_t len = 1;
                if (c[0] == '%' && c[1] == 't') {
                    piece = tn;
                    len = strlen(tn);
                    c++;
                }
                if (n + len >= sizeof p->launcher)
                    bad = 1;
                else {
                    memcpy(p->launcher + n, piece, len);
                    n += len;
                }
            }
            p->launcher[bad ? 0 : n] = '\0';
            if (bad || (strchr(p->launcher, '/') ? access(p->launcher, X_OK) != 0
                                                 : !on_path(p->launcher))) {
                err = im_fail(IM_ERR_ENGINE,
                              "IMAGO_NATIVE_LAUNCHER='%s' is not an executable program (one "
                              "word: a name on PATH or a path; %%t is the target)",
                              l);
                free(p);
                return err;
            }
        }
    }
    emu->priv = p;
    return 0;
}

static int runner_open(im_emu *emu)
{
    if (!im_emu_native_supports(emu->target))
        return im_fail(IM_ERR_ENGINE, "the host cannot run the %s runner natively",
                       im_target_name(emu->target));
    return exec_open_common(emu, 0);
}

static int qemu_open(im_emu *emu)
{
    return exec_open_common(emu, 1);
}

static int exec_load(im_emu *emu, uint64_t base)
{
    struct exec_priv *p = emu->priv;
    if (!base)
        base = IM_EMU_DEFAULT_BASE;
    uint64_t align = emu->sec->align > 4096 ? emu->sec->align : 4096;
    if (base % align)
        return im_fail(IM_ERR_ALIGN, "load address 0x%llx is not aligned to 0x%llx",
                       (unsigned long long)base, (unsigned long long)align);
    if (im_target_ptr_size(emu->target) == 4 &&
        base + emu->sec->code_size > (uint64_t)UINT32_MAX + 1)
        return im_fail(IM_ERR_RANGE, "base 0x%llx is outside the 32-bit %s address space",
                       (unsigned long long)base, im_target_name(emu->target));
    int err = im_img_write(emu->img, &p->image, &p->image_len);
    if (err)
        return err;
    emu->base = base;
    return 0;
}

/* im_emu_load_linked: the runner links emu->img's sections itself (--module), anew in each
 * call's process; where it places the module is known from its result line (emu->base stays
 * 0 until then). */
static int exec_load_linked(im_emu *emu)
{
    struct exec_priv *p = emu->priv;
    return im_img_write(emu->img, &p->image, &p->image_len);
}

static void exec_unload(im_emu *emu)
{
    struct exec_priv *p = emu->priv;
    free(p->image);
    p->image = NULL;
    p->image_len = 0;
}

static void exec_close(im_emu *emu)
{
    free(emu->priv);
    emu->priv = NULL;
}

/* "a b c" rendering of argv for messages. */
static void join_argv(char *buf, size_t size, char *const *argv)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; argv[i] && n < size; i++) {
        int w = snprintf(buf + n, size - n, "%s%s", i ? " " : "", argv[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

/* First line of s (at most 300 characters) into buf. */
static void first_line(char *buf, size_t size, const char *s)
{
    size_t n = strcspn(s, "\n");
    if (n > 300)
        n = 300;
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

static void out_append(struct outbuf *b, const char *data, size_t n)
{
    if (b->n + n > OUTPUT_LIMIT)
        n = OUTPUT_LIMIT - b->n;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return; /* keep what fits; the message is best effort */
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An anonymous file holding data, positioned at its start. */
static int make_input(const uint8_t *data, size_t len)
{
    int fd = memfd_create("imago-image", MFD_CLOEXEC);
    if (fd < 0) {
        FILE *f = tmpfile();
        if (!f)
            return -1;
        fd = dup(fileno(f));
        fclose(f);
        if (fd < 0)
            return -1;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    if (fd <= 3) { /* keep 0..3 free: the child's standard streams and its data fd */
        int hi = fcntl(fd, F_DUPFD_CLOEXEC, 10);
        close(fd);
        fd = hi;
    }
    return fd;
}

/* Run argv with stdin from in_fd; collect stdout and stderr; kill it after the
 * timeout. *status gets the wait status; *timed_out is set if it was killed. */
static int run_child(char *const *argv, int in_fd, int data_fd, struct outbuf *out,
                     struct outbuf *errb, int *status, unsigned *timed_out, const char *cmd)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0)
        return im_fail(IM_ERR_SYS, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) != 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return im_fail(IM_ERR_SYS, "pipe: %s", strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    if (data_fd >= 0) /* data_fd is never 3 (make_input), so dup2 clears its close-on-exec */
        posix_spawn_file_actions_adddup2(&fa, data_fd, 3);
    /* The runner maps code and data at fixed addresses (the state check's code at
     * 0x10000000), and Linux places a static executable's brk heap anywhere in the GiB above
     * its end on a 64-bit host: a run now and then found its address taken ("range is in
     * use"). The child starts with ADDR_NO_RANDOMIZE, so its heap follows its data. The
     * personality is the calling thread's and execve keeps it: set it around the spawn. */
    int persona = personality(0xffffffff);
    int norand = persona != -1 && !(persona & ADDR_NO_RANDOMIZE) &&
                 personality((unsigned long)persona | ADDR_NO_RANDOMIZE) != -1;
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    if (norand)
        personality((unsigned long)persona);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        close(po[0]);
        close(pe[0]);
        return im_fail(IM_ERR_ENGINE, "cannot run %s: %s (command: %s)", argv[0], strerror(rc),
                       cmd);
    }

    unsigned timeout = im_emu_timeout_ms(IM_EMU_EXEC_TIMEOUT_MS);
    int64_t deadline = now_ms() + timeout;
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    struct outbuf *bufs[2] = {out, errb};
    int open_fds = 2;
    *timed_out = 0;
    while (open_fds) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            *timed_out = timeout;
            kill(pid, SIGKILL);
            break;
        }
        int n = poll(fds, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t r = read(fds[i].fd, chunk, sizeof chunk);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else {
                out_append(bufs[i], chunk, (size_t)r);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR) {
            *status = 0;
            break;
        }
    }
    return 0;
}

static int exec_call(im_emu *emu, const char *name, uint32_t off, const int64_t *args, size_t nargs,
                     const im_emu_data *data, int64_t *result)
{
    struct exec_priv *p = emu->priv;
    (void)off;
    char basebuf[32], databuf[32], argbuf[4][32];
    char *argv[16];
    int n = 0;
    if (p->launcher[0])
        argv[n++] = p->launcher;
    argv[n++] = p->runner;
    if (emu->module) { /* linked (im_emu_load_linked): the runner's linker places it */
        argv[n++] = "--module";
        argv[n++] = emu->module;
    } else {
        snprintf(basebuf, sizeof basebuf, "0x%" PRIx64, emu->base);
        argv[n++] = "--base";
        argv[n++] = basebuf;
    }
    argv[n++] = "--entry";
    argv[n++] = (char *)name;
    size_t first = 0;
    if (data) { /* the runner maps fd 3 at the address and passes it as the first argument */
        snprintf(databuf, sizeof databuf, "0x%" PRIx64, data->addr);
        argv[n++] = "--data";
        argv[n++] = databuf;
        first = 1;
    }
    argv[n++] = "-";
    for (size_t i = first; i < nargs; i++) {
        snprintf(argbuf[i], sizeof argbuf[i], "%" PRId64, args[i]);
        argv[n++] = argbuf[i];
    }
    argv[n] = NULL;
    char cmd[1024];
    join_argv(cmd, sizeof cmd, argv);

    int in = make_input(p->image, p->image_len);
    if (in < 0)
        return im_fail(IM_ERR_SYS, "cannot make the runner's input file: %s", strerror(errno));
    int dfd = -1;
    if (data) {
        dfd = make_input(data->p, data->len);
        if (dfd < 0) {
            int e = errno;
            close(in);
            return im_fail(IM_ERR_SYS, "cannot make the runner's data file: %s", strerror(e));
        }
    }
    struct outbuf out = {0}, errb = {0};
    int status = 0;
    unsigned timed_out = 0;
    int err = run_child(argv, in, dfd, &out, &errb, &status, &timed_out, cmd);
    close(in);
    if (err)
        goto done;
    char line[320];
    first_line(line, sizeof line, errb.p ? errb.p : "");
    if (timed_out) {
        err = im_fail(IM_ERR_ENGINE, "timed out after %u ms and was killed (command: %s < image)",
                      timed_out, cmd);
        goto done;
    }
    if (WIFSIGNALED(status)) {
        err =
            im_fail(IM_ERR_ENGINE, "%s killed by signal %d (%s)%s%s (command: %s < image)", argv[0],
                    WTERMSIG(status), strsignal(WTERMSIG(status)), line[0] ? ": " : "", line, cmd);
        goto done;
    }
    if (emu->module && WIFEXITED(status) && WEXITSTATUS(status) == 70) {
        /* the runner's linker: an import that resolves to nothing, when the module is
         * loaded or at a call; its line is "<who>: [<what>: ]<the error's name>: <detail>" */
        char pre[64];
        snprintf(pre, sizeof pre, "%s: ", im_strerror(IM_ERR_UNRESOLVED));
        const char *k = strstr(line, pre);
        const char *why = k ? k + strlen(pre) : line;
        err = im_fail(IM_ERR_UNRESOLVED, "%s (command: %s < image)", why, cmd);
        goto done;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        err = im_fail(IM_ERR_ENGINE, "%s exited with status %d%s%s (command: %s < image)", argv[0],
                      WEXITSTATUS(status), line[0] ? ": " : "", line, cmd);
        goto done;
    }
    /* The last line that starts with "result=". */
    const char *res = NULL;
    for (const char *s = out.p; s && *s;) {
        if (strncmp(s, "result=", 7) == 0)
            res = s;
        const char *nl = strchr(s, '\n');
        s = nl ? nl + 1 : NULL;
    }
    long long v;
    unsigned long long b;
    if (!res || sscanf(res, "result=%lld base=0x%llx", &v, &b) != 2) {
        char got[320];
        first_line(got, sizeof got, out.p ? out.p : "");
        err = im_fail(IM_ERR_ENGINE,
                      "no result line from the runner (stdout: '%s') (command: %s "
                      "< image)",
                      got, cmd);
        goto done;
    }
    if (emu->module) {
        emu->base = b;
    } else if (b != emu->base) {
        err = im_fail(IM_ERR_ENGINE, "runner loaded at 0x%llx instead of 0x%llx (command: %s)", b,
                      (unsigned long long)emu->base, cmd);
        goto done;
    }
    if (data) {
        /* The runner says where the block was and wrote it back into the same file. */
        const char *dl = strstr(res, " data=0x");
        unsigned long long da;
        if (!dl || sscanf(dl, " data=0x%llx", &da) != 1 || da != data->addr) {
            err = im_fail(IM_ERR_ENGINE,
                          "the runner did not report the data block at 0x%llx "
                          "(a runner without --data?) (command: %s)",
                          (unsigned long long)data->addr, cmd);
            goto done;
        }
        struct stat st;
        if (fstat(dfd, &st) != 0 || (uint64_t)st.st_size != data->len) {
            err = im_fail(IM_ERR_ENGINE, "the runner's data file changed size (command: %s)", cmd);
            goto done;
        }
        uint8_t *back = malloc(data->len); /* data->p changes only once all of it is read */
        if (!back) {
            err = im_fail(IM_ERR_NOMEM, "data block copy");
            goto done;
        }
        size_t got = 0;
        while (got < data->len) {
            ssize_t r = pread(dfd, back + got, data->len - got, (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                err = im_fail(IM_ERR_SYS, "reading the data block back: %s",
                              r < 0 ? strerror(errno) : "short file");
                free(back);
                goto done;
            }
            got += (size_t)r;
        }
        memcpy(data->p, back, data->len);
        free(back);
    }
    *result = (int64_t)v;
done:
    if (dfd >= 0)
        close(dfd);
    free(out.p);
    free(errb.p);
    return err;
}

const im_emu_ops im_emu_runner_ops = {
    .name = "native (runner)",
    .open = runner_open,
    .load = exec_load,
    .unload = exec_unload,
    .call = exec_call,
    .close = exec_close,
    .load_linked = exec_load_linked,
};

const im_emu_ops im_emu_qemu_ops = {
    .name = "qemu",
    .open = qemu_open,
    .load = exec_load,
    .unload = exec_unload,
    .call = exec_call,
    .close = exec_close,
    .load_linked = exec_load_linked,
};
