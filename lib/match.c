/*
 * match.c - Aho-Corasick over the bytes of folded text.
 *
 * Word starts are part of the automaton.  The scan feeds a virtual symbol
 * "^" before every byte that starts a word (the first byte of the text, and
 * every byte after a non-word byte), and each term is entered with "^" at
 * the same places: before its first byte and after each of its own non-word
 * bytes ("factuur nr" becomes "^factuur ^nr").  A term then occurs in that
 * stream exactly where it occurs in the text at a word start, so the
 * automaton never reports a match that the start rule would throw away, and
 * the only check left is the word end of whole-word terms.  The cost of a
 * scan is one or two table steps per byte plus the matches themselves,
 * whatever the number of terms.
 *
 * Memory.  While terms are added the trie is sparse (a child/sibling list,
 * 12 bytes a node).  Compiling turns it into a dense transition table over a
 * compressed alphabet: every byte that occurs in some term is a class of its
 * own, all other bytes share class 0 (they always lead back to the root),
 * and "^" is the last class.  Folded Dutch/English/German/French terms
 * use some 30-60 distinct bytes, so a state costs 4 bytes per class (about
 * 120-250 bytes, against 1 KB for a 256-wide row) plus 8 for its output
 * list and dictionary link; the build trie and failure links are freed
 * once compiled.  Table entries hold the target's row offset (state times
 * the number of classes), which saves a multiply per byte, and a flag bit
 * saying whether the target reports anything, so a byte that completes no
 * term costs three loads from small tables and one from the transitions.
 *
 * Build in one thread; after sg_matcher_compile the matcher is immutable and
 * any number of threads may scan it.
 */
#include "match.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARET 256u           /* the word-start symbol, after the 256 bytes */
#define NONE UINT32_MAX      /* no node / no state */
#define HIT 0x80000000u      /* in a table entry: the target reports matches */
#define MAX_ROWS 0x7fffffffu /* row offsets must stay clear of HIT */

/* A trie node while terms are added. */
struct node {
    uint32_t child;   /* first child, NONE when a leaf */
    uint32_t sibling; /* next child of the same parent */
    uint16_t sym;     /* byte on the edge into this node, or CARET */
};

/* A term, at the trie node where it ends. */
struct term {
    size_t id;
    uint32_t len; /* bytes of text, without the carets */
    uint32_t node;
    bool word; /* SG_MATCH_WORD: must also end at a word end */
};

/* A term as reported, grouped by state. */
struct output {
    size_t id;
    uint32_t len;
    bool word;
};

struct sg_matcher {
    bool compiled;
    bool word[256]; /* word bytes: ASCII letters and digits, and every byte >= 0x80 */

    /* building: freed by compile */
    struct node *nodes;
    size_t nnodes, nodes_cap;
    struct term *terms;
    size_t nterms, terms_cap;

    /* compiled */
    uint8_t cls[256];    /* byte -> class */
    uint32_t ncls;       /* classes, "^" included */
    uint32_t *delta;     /* nstates rows of ncls entries: target row | HIT */
    uint32_t *dict;      /* per state: next state on its failure chain with outputs */
    uint32_t *out_begin; /* per state: its outputs are out[out_begin[s] .. out_begin[s+1]) */
    struct output *out;
};

/* misuse - a caller broke the contract in match.h: nothing sensible can go on */
static void
misuse(const char *what)
{
    fprintf(stderr, "sendguard: sg_matcher: %s\n", what);
    abort();
}

/* sg_matcher_new - an empty matcher, ready for terms */
struct sg_matcher *
sg_matcher_new(void)
{
    struct sg_matcher *m = sg_xcalloc(1, sizeof(*m));
    for (unsigned b = 0; b < 256; b++)
        m->word[b] =
            b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
    m->nodes_cap = 64;
    m->nodes = sg_xmalloc(m->nodes_cap * sizeof(*m->nodes));
    m->nodes[0] = (struct node){.child = NONE, .sibling = NONE};
    m->nnodes = 1;
    return m;
}

/* sg_matcher_free - free a matcher and clear the pointer (NULL-safe) */
void
sg_matcher_free(struct sg_matcher **mp)
{
    struct sg_matcher *m = *mp;
    if (m == NULL)
        return;
    free(m->nodes);
    free(m->terms);
    free(m->delta);
    free(m->dict);
    free(m->out_begin);
    free(m->out);
    free(m);
    *mp = NULL;
}

/* child - the child of node on sym, created when missing */
static uint32_t
child(struct sg_matcher *m, uint32_t node, unsigned sym)
{
    uint32_t c;
    for (c = m->nodes[node].child; c != NONE; c = m->nodes[c].sibling)
        if (m->nodes[c].sym == sym)
            return c;
    if (m->nnodes >= MAX_ROWS)
        misuse("too many terms");
    if (m->nnodes == m->nodes_cap) {
        m->nodes_cap *= 2;
        m->nodes = sg_xrealloc(m->nodes, m->nodes_cap * sizeof(*m->nodes));
    }
    c = (uint32_t)m->nnodes++;
    m->nodes[c] = (struct node){.child = NONE, .sibling = m->nodes[node].child, .sym = sym};
    m->nodes[node].child = c;
    return c;
}

/* sg_matcher_add - enter a term, with "^" before each place it starts a word.
 * Empty terms are ignored: they would match everywhere. */
void
sg_matcher_add(struct sg_matcher *m, const char *term, enum sg_match_mode mode, size_t id)
{
    const unsigned char *t = (const unsigned char *)term;
    size_t len = strlen(term);
    uint32_t node = 0;

    if (m->compiled)
        misuse("term added after compile");
    if (len == 0)
        return;
    if (len >= MAX_ROWS || m->nterms >= MAX_ROWS)
        misuse("too many terms");
    for (size_t j = 0; j < len; j++) {
        if (j == 0 || !m->word[t[j - 1]])
            node = child(m, node, CARET);
        node = child(m, node, t[j]);
    }
    if (m->nterms == m->terms_cap) {
        m->terms_cap = m->terms_cap ? 2 * m->terms_cap : 16;
        m->terms = sg_xrealloc(m->terms, m->terms_cap * sizeof(*m->terms));
    }
    m->terms[m->nterms++] =
        (struct term){.id = id, .len = (uint32_t)len, .node = node, .word = mode == SG_MATCH_WORD};
}

/* make_classes - one class per byte used by a term, 0 for the rest, "^" last.
 * NUL never occurs in a term, so byte classes stay within 1..255 and fit cls[]. */
static void
make_classes(struct sg_matcher *m)
{
    bool used[256] = {false};
    for (size_t n = 1; n < m->nnodes; n++)
        if (m->nodes[n].sym != CARET)
            used[m->nodes[n].sym] = true;
    m->ncls = 1;
    for (unsigned b = 0; b < 256; b++)
        m->cls[b] = used[b] ? (uint8_t)m->ncls++ : 0;
    m->ncls++; /* "^" */
}

/* sym_class - the class of a trie edge */
static uint32_t
sym_class(const struct sg_matcher *m, unsigned sym)
{
    return sym == CARET ? m->ncls - 1 : m->cls[sym];
}

/* make_outputs - group the terms by state, in the order they were added */
static void
make_outputs(struct sg_matcher *m, size_t nstates)
{
    m->out_begin = sg_xcalloc(nstates + 1, sizeof(uint32_t));
    m->out = sg_xcalloc(m->nterms, sizeof(struct output));
    for (size_t k = 0; k < m->nterms; k++)
        m->out_begin[m->terms[k].node + 1]++;
    for (size_t s = 0; s < nstates; s++)
        m->out_begin[s + 1] += m->out_begin[s];
    uint32_t *fill = sg_xmalloc(nstates * sizeof(uint32_t));
    memcpy(fill, m->out_begin, nstates * sizeof(uint32_t));
    for (size_t k = 0; k < m->nterms; k++) {
        const struct term *t = &m->terms[k];
        m->out[fill[t->node]++] = (struct output){.id = t->id, .len = t->len, .word = t->word};
    }
    free(fill);
}

/* has_out - whether a state reports terms of its own */
static bool
has_out(const struct sg_matcher *m, uint32_t s)
{
    return m->out_begin[s + 1] > m->out_begin[s];
}

/* sg_matcher_compile - dense transitions, failure and dictionary links, by breadth-first search */
void
sg_matcher_compile(struct sg_matcher *m)
{
    if (m->compiled)
        misuse("compiled twice");
    m->compiled = true;
    make_classes(m);

    size_t nstates = m->nnodes;
    uint32_t ncls = m->ncls;
    if (nstates > MAX_ROWS / ncls)
        misuse("too many terms");
    m->delta = sg_xcalloc(nstates * ncls, sizeof(uint32_t));
    m->dict = sg_xmalloc(nstates * sizeof(uint32_t));
    make_outputs(m, nstates);

    uint32_t *fail = sg_xmalloc(nstates * sizeof(uint32_t));
    uint32_t *queue = sg_xmalloc(nstates * sizeof(uint32_t));
    size_t head = 0, tail = 0;

    /* Breadth first, so a state's failure state (shorter) is complete before
     * the state itself: its row starts as a copy of that one, and its own
     * children then take their slots. */
    fail[0] = 0;
    m->dict[0] = NONE;
    queue[tail++] = 0;
    while (head < tail) {
        uint32_t u = queue[head++];
        uint32_t *row = m->delta + (size_t)u * ncls;
        if (u != 0)
            memcpy(row, m->delta + (size_t)fail[u] * ncls, ncls * sizeof(uint32_t));
        for (uint32_t v = m->nodes[u].child; v != NONE; v = m->nodes[v].sibling) {
            uint32_t c = sym_class(m, m->nodes[v].sym);
            /* for the root's children row[c] is still 0: the root */
            uint32_t f = u == 0 ? 0 : row[c] / ncls;
            fail[v] = f;
            m->dict[v] = has_out(m, f) ? f : m->dict[f];
            row[c] = v * ncls;
            queue[tail++] = v;
        }
    }
    free(queue);
    free(fail);

    /* Flag every entry whose target reports something itself or down its chain. */
    for (size_t k = 0; k < nstates * ncls; k++) {
        uint32_t s = m->delta[k] / ncls;
        if (has_out(m, s) || m->dict[s] != NONE)
            m->delta[k] |= HIT;
    }

    free(m->nodes);
    free(m->terms);
    m->nodes = NULL;
    m->terms = NULL;
    m->nnodes = 0; /* nterms stays: scans of an empty matcher return at once */
}

/* report - the matches that end at end in state s; false when fn said stop */
static bool
report(const struct sg_matcher *m, uint32_t s, const unsigned char *text, size_t len, size_t end,
       sg_match_fn *fn, void *arg)
{
    bool at_word_end = end == len || !m->word[text[end]];
    for (uint32_t u = has_out(m, s) ? s : m->dict[s]; u != NONE; u = m->dict[u]) {
        for (uint32_t k = m->out_begin[u]; k < m->out_begin[u + 1]; k++) {
            const struct output *o = &m->out[k];
            if (o->word && !at_word_end)
                continue;
            if (!fn(o->id, end - o->len, end, arg))
                return false;
        }
    }
    return true;
}

/* sg_matcher_scan - one pass over text, "^" fed before each word start */
void
sg_matcher_scan(const struct sg_matcher *m, const char *text, size_t len, sg_match_fn *fn,
                void *arg)
{
    const unsigned char *t = (const unsigned char *)text;
    const uint32_t *delta = m->delta;
    uint32_t caret = m->ncls - 1;
    uint32_t row = 0;
    bool word_start = true;

    if (!m->compiled)
        misuse("scan before compile");
    if (m->nterms == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        if (word_start)
            row = delta[row + caret] & ~HIT; /* "^" never completes a term */
        uint32_t next = delta[row + m->cls[t[i]]];
        row = next & ~HIT;
        word_start = !m->word[t[i]];
        if ((next & HIT) && !report(m, row / m->ncls, t, len, i + 1, fn, arg))
            return;
    }
}
