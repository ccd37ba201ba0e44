/*
 * config_set.c -- --set path.to.key=value, applied to the document before
 * it is read, so that the resolved YAML of a run holds the values it ran
 * with.
 *
 * A path walks mappings by key and lists by position; the list of
 * projections also by name (projections.hidden-inter.rule...): a
 * projection's name: key, or SOURCE-TARGET from its from: and to:.  Missing
 * mapping keys are created.  The nodes an override makes carry
 * APICAL_YAML_SET_MARK + its number, so that errors about them name it.
 * The value null (or ~) removes the key from its mapping, as Helm's --set
 * does: the default applies, or another key can take its place.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* A YAML null as a plain scalar: the value that removes a key. */
static int is_null(const char *v)
{
    return !strcmp(v, "null") || !strcmp(v, "~") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* The node an override's value becomes: "[a, b, ...]" a flow list of
   plain scalars, anything else one plain scalar.  0: out of memory. */
static int set_value(ctx *x, size_t k, const char *v)
{
    if (v[0] != '[' || v[strlen(v) - 1] != ']') {
        int id = yaml_document_add_scalar(&x->y.doc, NULL, (yaml_char_t *)v, -1,
                                          YAML_PLAIN_SCALAR_STYLE);
        if (id)
            node(x, id)->start_mark.index = APICAL_YAML_SET_MARK + k;
        return id;
    }
    int seq = yaml_document_add_sequence(&x->y.doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
    if (!seq)
        return 0;
    node(x, seq)->start_mark.index = APICAL_YAML_SET_MARK + k;
    const char *p = v + 1, *end = v + strlen(v) - 1;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *e = q;
        while (e > p && e[-1] == ' ')
            e--;
        if (e > p) {
            int item = yaml_document_add_scalar(&x->y.doc, NULL, (yaml_char_t *)p, (int)(e - p),
                                                YAML_PLAIN_SCALAR_STYLE);
            if (!item || !yaml_document_append_sequence_item(&x->y.doc, seq, item))
                return 0;
            node(x, item)->start_mark.index = APICAL_YAML_SET_MARK + k;
        }
        p = q;
    }
    return seq;
}

/* The name of a projection in the document: its name: key, or SRC-DST from
   from: and to:; "" when it has neither. */
static void item_name(ctx *x, const yaml_node_t *item, char *out, size_t cap)
{
    out[0] = 0;
    if (item->type != YAML_MAPPING_NODE)
        return;
    yaml_node_t *nm = get(x, item, "name"), *from = get(x, item, "from"),
                *to = get(x, item, "to");
    if (nm && nm->type == YAML_SCALAR_NODE)
        snprintf(out, cap, "%s", scalar(nm));
    else if (!nm && from && to && from->type == YAML_SCALAR_NODE && to->type == YAML_SCALAR_NODE)
        snprintf(out, cap, "%.*s-%.*s", (int)strcspn(scalar(from), "."), scalar(from),
                 (int)strcspn(scalar(to), "."), scalar(to));
}

/* The item of list n that key selects: its position, or in the list of
   projections also its name.  -1 with the message in x->y.err. */
static int list_item(ctx *x, size_t k, const yaml_node_t *n, const char *key, int named,
                     long *out)
{
    const char *set = x->y.sets[k];
    char *err = x->y.err;
    size_t cap = x->y.cap;
    long size = n->data.sequence.items.top - n->data.sequence.items.start;
    char *end;
    long i = strtol(key, &end, 10);
    if (end != key && !*end) {
        if (i < 0 || i >= size)
            return snprintf(err, cap, "--set %s: '%s' is not an index of a %ld-item list", set,
                            key, size), -1;
        return *out = i, 0;
    }
    if (!named)
        return snprintf(err, cap, "--set %s: '%s' is not an index of a %ld-item list", set, key,
                        size), -1;
    char names[512] = "", name[256];
    long best = -1;
    size_t used = 0, bestd = 3;
    for (i = 0; i < size; i++) {
        item_name(x, node(x, n->data.sequence.items.start[i]), name, sizeof name);
        if (strcmp(name, key) == 0)
            return *out = i, 0;
        size_t d = apical_yaml_distance(key, name);
        if (d < bestd) {
            bestd = d;
            best = i;
        }
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     name);
    }
    if (best >= 0) {
        item_name(x, node(x, n->data.sequence.items.start[best]), name, sizeof name);
        return snprintf(err, cap, "--set %s: no projection '%s' (did you mean '%s'?)", set, key,
                        name), -1;
    }
    return snprintf(err, cap, "--set %s: no projection '%s' (the projections: %s; or a "
                    "position, 0 to %ld)", set, key, names, size - 1), -1;
}

/* One step of override k into list id: the item key selects; with a value
   (the last step) the value replaces it.  The next node's id, 0 when the
   value is set, -1 on error. */
static int set_in_list(ctx *x, size_t k, int id, const char *key, const char *value, int named)
{
    yaml_node_t *n = node(x, id);
    long i;
    if (list_item(x, k, n, key, named, &i))
        return -1;
    yaml_node_item_t *item = &n->data.sequence.items.start[i];
    if (!value)
        return *item;
    if (is_null(value))
        return snprintf(x->y.err, x->y.cap, "--set %s: null removes a key from a mapping, not "
                        "an item from a list (set the whole list)", x->y.sets[k]), -1;
    int v = set_value(x, k, value);
    if (!v)
        return snprintf(x->y.err, x->y.cap, "out of memory"), -1;
    *item = v;
    return 0;
}

/* One step of override k into mapping id: the value of key, a new mapping
   if it has none; with a value (the last step) the value replaces or
   becomes it, or with null the key is removed (del: the override removes,
   so a missing key on the way is an error, not made).  The next node's id,
   0 when the value is set, -1 on error. */
static int set_in_mapping(ctx *x, size_t k, int id, const char *key, const char *value, int del)
{
    yaml_node_t *n = node(x, id);
    yaml_node_pair_t *pair = NULL;
    for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top; q++) {
        yaml_node_t *kn = node(x, q->key);
        if (kn->type == YAML_SCALAR_NODE && strcmp(scalar(kn), key) == 0)
            pair = q;
    }
    if (del && !pair) {
        char keys[512] = "";
        size_t used = 0;
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start;
             q < n->data.mapping.pairs.top && used < sizeof keys; q++) {
            yaml_node_t *kn = node(x, q->key);
            if (kn->type == YAML_SCALAR_NODE)
                used += (size_t)snprintf(keys + used, sizeof keys - used, "%s%s",
                                         used ? ", " : "", scalar(kn));
        }
        return snprintf(x->y.err, x->y.cap, "--set %s: no key '%s' to remove (%s%s)",
                        x->y.sets[k], key, used ? "the keys here: " : "an empty mapping",
                        keys), -1;
    }
    if (del && value) { /* the last step: the pair goes, the rest move up */
        memmove(pair, pair + 1, (size_t)(n->data.mapping.pairs.top - pair - 1) * sizeof *pair);
        n->data.mapping.pairs.top--;
        return 0;
    }
    int v = value  ? set_value(x, k, value)
            : pair ? pair->value
                   : yaml_document_add_mapping(&x->y.doc, NULL, YAML_FLOW_MAPPING_STYLE);
    if (!v)
        return snprintf(x->y.err, x->y.cap, "out of memory"), -1;
    if (value || !pair)
        node(x, v)->start_mark.index = APICAL_YAML_SET_MARK + k;
    if (pair) {
        if (value)
            pair->value = v;
    } else {
        int kid = yaml_document_add_scalar(&x->y.doc, NULL, (yaml_char_t *)key, -1,
                                           YAML_PLAIN_SCALAR_STYLE);
        if (!kid || !yaml_document_append_mapping_pair(&x->y.doc, id, kid, v))
            return snprintf(x->y.err, x->y.cap, "out of memory"), -1;
        node(x, kid)->start_mark.index = APICAL_YAML_SET_MARK + k;
    }
    return value ? 0 : v;
}

int apical_cfg_apply_set(ctx *x, size_t k)
{
    const char *set = x->y.sets[k], *eq = strchr(set, '=');
    char *err = x->y.err;
    size_t cap = x->y.cap;
    if (!eq || eq == set)
        return snprintf(err, cap, "--set %s: expected path.to.key=value", set), -1;
    yaml_node_t *root = yaml_document_get_root_node(&x->y.doc);
    if (!root)
        return snprintf(err, cap, "--set %s: the file is empty", set), -1;
    /* the list whose items have names (by id: adding nodes moves them) */
    const yaml_node_t *projs = root->type == YAML_MAPPING_NODE ? get(x, root, "projections") : NULL;
    int projs_id = projs ? (int)(projs - x->y.doc.nodes.start) + 1 : 0;
    int id = 1, del = is_null(eq + 1); /* the root */
    const char *p = set;
    while (p < eq) {
        size_t len = strcspn(p, ".=");
        char key[256];
        if (len == 0 || len >= sizeof key)
            return snprintf(err, cap, "--set %s: empty or overlong key", set), -1;
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        p += len;
        const char *value = *p == '=' ? eq + 1 : NULL;
        if (!value)
            p++;
        yaml_node_t *n = node(x, id);
        if (n->type == YAML_SEQUENCE_NODE)
            id = set_in_list(x, k, id, key, value, id == projs_id);
        else if (n->type == YAML_MAPPING_NODE)
            id = set_in_mapping(x, k, id, key, value, del);
        else
            return snprintf(err, cap, "--set %s: '%s' is inside a scalar (set the whole value, "
                            "or write it as a mapping in the file)", set, key), -1;
        if (id <= 0)
            return id;
    }
    return snprintf(err, cap, "--set %s: expected path.to.key=value", set), -1;
}
