/* Loading an application shared object and checking it against the ABI of mrapp.h. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "mr/mr.h"

/* Looks up name; a missing required symbol is an error naming the file and the symbol. */
static int find(void *h, const char *path, const char *name, bool required, void **out,
                char *err, size_t errlen)
{
    dlerror();
    *out = dlsym(h, name);
    if (*out || !required)
        return MR_OK;
    snprintf(err, errlen, "%s: no symbol %s (not a MapReduce app, or not exported with "
             "MR_APP_EXPORT?)", path, name);
    return MR_ERR;
}

int mr_app_load(struct mr_app *app, const char *path, char *err, size_t errlen)
{
    memset(app, 0, sizeof *app);
    /* Without a '/', dlopen would search the library path instead of the current directory. */
    char *name = strchr(path, '/') ? xstrdup(path) : xasprintf("./%s", path);
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    free(name);
    if (!h) {
        snprintf(err, errlen, "cannot load app: %s", dlerror());
        return MR_ERR;
    }
    void *version, *map, *reduce, *combine;
    if (find(h, path, "mr_app_abi_version", true, &version, err, errlen) != MR_OK ||
        find(h, path, "mr_map", true, &map, err, errlen) != MR_OK ||
        find(h, path, "mr_reduce", true, &reduce, err, errlen) != MR_OK ||
        find(h, path, "mr_combine", false, &combine, err, errlen) != MR_OK) {
        dlclose(h);
        return MR_ERR;
    }
    uint32_t v = *(const uint32_t *)version;
    if (v != MR_APP_ABI_VERSION) {
        snprintf(err, errlen, "%s: built for MapReduce app ABI version %u, but this program "
                 "loads version %u; rebuild it against this lib/mr/mrapp.h", path, (unsigned)v,
                 (unsigned)MR_APP_ABI_VERSION);
        dlclose(h);
        return MR_ERR;
    }
    /* dlsym returns object pointers; POSIX guarantees they convert to function pointers, ISO C
     * does not define the cast, so copy the bits. */
    memcpy(&app->map, &map, sizeof map);
    memcpy(&app->reduce, &reduce, sizeof reduce);
    if (combine)
        memcpy(&app->combine, &combine, sizeof combine);
    app->handle = h;
    return MR_OK;
}

void mr_app_close(struct mr_app *app)
{
    if (app->handle)
        dlclose(app->handle);
    memset(app, 0, sizeof *app);
}
