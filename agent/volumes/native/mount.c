// Memory-backed volume mounts without a mount(8) process: the kubelet's emptyDir setupTmpfs
// (pkg/volume/emptydir/empty_dir.go: mount -t tmpfs [-o size=N] tmpfs <dir>) and its unmount
// (mount-utils CleanupMountPoint: umount, then a lazy unmount when busy) as the mount(2)/umount2(2)
// calls themselves. Each call runs on libuv's thread pool and settles a promise with 0 or -errno.
// agent/volumes/mount-native.ts is the only caller; built by agent/volumes/native/build.sh.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#define PATH_CAP 4096
#define DATA_CAP 256

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int op; /* 0 mount tmpfs, 1 umount2 */
  int flags;
  char target[PATH_CAP];
  char data[DATA_CAP];
  int rc;
} req;

static void execute(napi_env env, void *arg) {
  (void)env;
  req *r = arg;
  int rc = r->op == 0 ? mount("tmpfs", r->target, "tmpfs", 0, r->data[0] ? r->data : NULL) : umount2(r->target, r->flags);
  r->rc = rc == 0 ? 0 : -errno;
}

static void complete(napi_env env, napi_status status, void *arg) {
  req *r = arg;
  napi_value v;
  napi_create_int32(env, status == napi_ok ? r->rc : -ECANCELED, &v);
  napi_resolve_deferred(env, r->deferred, v);
  napi_delete_async_work(env, r->work);
  free(r);
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* Copies a JS string into out (cap bytes with the NUL); 0 when it is a string that fits without NULs. */
static int get_str(napi_env env, napi_value v, char *out, size_t cap) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n >= cap) return -1;
  napi_get_value_string_utf8(env, v, out, cap, &n);
  return strlen(out) == n ? 0 : -1;
}

static napi_value queue(napi_env env, req *r) {
  napi_value promise, name;
  if (napi_create_promise(env, &r->deferred, &promise) != napi_ok) { free(r); return NULL; }
  napi_create_string_utf8(env, "dockerlet.mount", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, execute, complete, r, &r->work) != napi_ok ||
      napi_queue_async_work(env, r->work) != napi_ok) {
    napi_value v;
    napi_create_int32(env, -ENOMEM, &v);
    napi_resolve_deferred(env, r->deferred, v);
    free(r);
  }
  return promise;
}

/* mountTmpfs(target: string, data: string) → Promise<0 | -errno>; data is the option string ("" or "size=N"). */
static napi_value js_mount_tmpfs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "mountTmpfs(target, data)");
  req *r = calloc(1, sizeof *r);
  if (!r) return throw_type(env, "out of memory");
  if (get_str(env, argv[0], r->target, PATH_CAP) || r->target[0] != '/') { free(r); return throw_type(env, "target must be an absolute path"); }
  if (get_str(env, argv[1], r->data, DATA_CAP)) { free(r); return throw_type(env, "data must be a short string"); }
  r->op = 0;
  return queue(env, r);
}

/* unmount(target: string, detach: boolean) → Promise<0 | -errno>; detach is MNT_DETACH (umount -l). A
 * symlink as the last component is not followed (UMOUNT_NOFOLLOW): the caller passes the real path. */
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "unmount(target, detach)");
  req *r = calloc(1, sizeof *r);
  if (!r) return throw_type(env, "out of memory");
  if (get_str(env, argv[0], r->target, PATH_CAP) || r->target[0] != '/') { free(r); return throw_type(env, "target must be an absolute path"); }
  bool detach = false;
  napi_get_value_bool(env, argv[1], &detach);
  r->op = 1;
  r->flags = UMOUNT_NOFOLLOW | (detach ? MNT_DETACH : 0);
  return queue(env, r);
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mountTmpfs", NAPI_AUTO_LENGTH, js_mount_tmpfs, NULL, &f);
  napi_set_named_property(env, exports, "mountTmpfs", f);
  napi_create_function(env, "unmount", NAPI_AUTO_LENGTH, js_unmount, NULL, &f);
  napi_set_named_property(env, exports, "unmount", f);
  return exports;
}
