/* A C caller of msix-policy, as QEMU or libvirt would be: plan a device's layout from its
 * plan input, or audit a root, through the C ABI (capi/include/msix_policy.h). Built with the
 * system cc and run by capi/tests/c_program.rs, which checks the output against the Rust API.
 *
 *   msix_policy_demo plan INPUT.json     prints the layout JSON
 *   msix_policy_demo audit ROOT          prints the audit JSON
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msix_policy.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len <= 1) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    char *out = NULL, *err = NULL;
    MsixPolicyStatus st;

    if (argc != 3) {
        fprintf(stderr, "usage: %s plan INPUT.json | audit ROOT\n", argv[0]);
        return 64;
    }
    if (strcmp(argv[1], "plan") == 0) {
        char *input = slurp(argv[2]);
        if (!input) {
            perror(argv[2]);
            return 66;
        }
        st = msix_policy_plan_layout(input, &out, &err);
        free(input);
    } else if (strcmp(argv[1], "audit") == 0) {
        st = msix_policy_audit(argv[2], &out, &err);
    } else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 64;
    }
    if (st != MSIX_POLICY_STATUS_OK) {
        fprintf(stderr, "msix-policy: status %d: %s\n", (int)st, err ? err : "(no message)");
        msix_policy_free(err);
        return 2;
    }
    fputs(out, stdout);
    putchar('\n');
    msix_policy_free(out);

    /* The contract at the edges: NULL input is an argument error with a message, NULL frees
     * are ignored, and the layout version is the one the header documents. */
    out = NULL;
    err = NULL;
    if (msix_policy_plan_layout(NULL, &out, &err) != MSIX_POLICY_STATUS_INVALID_ARGUMENT || out || !err)
        return 3;
    msix_policy_free(err);
    err = NULL;
    if (msix_policy_plan_layout("{\"config\": 1}", &out, &err) != MSIX_POLICY_STATUS_BAD_INPUT || !err)
        return 4;
    msix_policy_free(err);
    msix_policy_free(NULL);
    if (msix_policy_layout_version() != 1 || strlen(msix_policy_version()) == 0)
        return 5;
    return 0;
}
