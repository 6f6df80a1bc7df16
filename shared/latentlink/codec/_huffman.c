/*
 * Inner loops of latentlink.codec.huffman: canonical, length-limited Huffman coding of
 * uint8/uint16 symbol arrays.  The wire format is documented byte by byte in huffman.py;
 * this file is its only implementation, so the two must change together.
 *
 * Why C: a frame is 43k..524k symbols and the decoder is the cloud's hot path; a per-symbol
 * Python loop runs at ~2 Msym/s, these loops at several hundred.  Only the Python headers and
 * the buffer protocol are used (no numpy C API), so building needs nothing else.
 *
 * Safety: decode() treats every byte as hostile.  Every read is bounds-checked (the bit reader
 * feeds zero bytes past the end and the decoder fails as soon as it has consumed more bits than
 * exist), every length and count read from the stream is range-checked before use, and all
 * allocations are bounded by the alphabet size (at most 2^16 entries), never by stream contents.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEN 16            /* longest code; must match huffman.MAX_CODE_LENGTH */
#define MAX_ALPHABET_BITS 16
#define FIRST_LEN_BITS 4      /* the first code length of a table is sent as 4 raw bits */
#define MAX_EG_ZEROS 16       /* dictionary exp-Golomb values are < 2^17 - 1 */
#define MAX_RUN_EG_ZEROS 32   /* run lengths are < 2^32 (the encoder's symbol limit) */
#define EG_K_BITS 4           /* sparse tables: exp-Golomb order of the runs, 0..15 */
#define EG_K_MAX 15
#define LUT_MAX_BITS 12       /* 2^12 uint32 = 16 KiB decode table: stays in L1 */
#define LUT_MIN_BITS 6
#define MODE_SINGLE 0
#define MODE_PER_CHANNEL 1
#define MODE_CONTEXT 2
#define MODE_AUTO (-1)
#define MAX_VARINT_BYTES 10

#define KIND_PLAIN 0     /* table kind bit: canonical Huffman over every used symbol   */
#define KIND_SPARSE 1    /* runs of the dominant symbol + Huffman over the others      */

/* Dictionary tokens (read LSB first): the run of leading 1 bits selects the token. */
#define TOK_SAME 0       /* "0"    : length unchanged                                    */
#define TOK_STEP 1       /* "10"   : length moves one step in the current direction      */
#define TOK_TURN 2       /* "110"  : length moves one step against it (direction flips)  */
#define TOK_ZRUN 3       /* "1110" + eg(run-1): run of unused symbols                    */
#define TOK_JUMP 4       /* "1111" + sign + eg(|delta|-2): any other change              */

/* ------------------------------------------------------------------------------------------ */
/* little-endian 64-bit access                                                                 */

static inline uint64_t load64le(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store64le(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline unsigned floor_log2(uint64_t v) /* v > 0 */
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static uint32_t reverse_bits(uint32_t code, unsigned len)
{
    uint32_t r = 0;
    for (unsigned i = 0; i < len; i++, code >>= 1)
        r = (r << 1) | (code & 1u);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* bit writer: LSB-first, 64-bit accumulator, needs 8 bytes of slack after the last byte      */

typedef struct {
    uint8_t *out;      /* NULL: only count bits (used to price a dictionary) */
    size_t pos;        /* bytes completely written */
    uint64_t buf;      /* pending bits, low bits first */
    unsigned n;        /* pending bit count, < 32 between calls */
    uint64_t counted;  /* bits written in counting mode */
} BitWriter;

static inline void bw_flush(BitWriter *w)
{
    store64le(w->out + w->pos, w->buf);
    w->pos += w->n >> 3;
    w->buf >>= w->n & ~7u;
    w->n &= 7;
}

static inline void bw_put(BitWriter *w, uint32_t value, unsigned nbits) /* nbits <= 32 */
{
    if (!w->out) {
        w->counted += nbits;
        return;
    }
    w->buf |= (uint64_t)value << w->n;
    w->n += nbits;
    if (w->n >= 32)
        bw_flush(w);
}

/* Order-0 exp-Golomb: floor(log2(v+1)) zeros, a one, then the low bits of v+1.  v < 2^32. */
static void bw_put_eg(BitWriter *w, uint64_t value)
{
    uint64_t x = value + 1;
    unsigned zeros = floor_log2(x);
    bw_put(w, 0, zeros);
    bw_put(w, 1, 1);
    bw_put(w, (uint32_t)(x - ((uint64_t)1 << zeros)), zeros);
}

/* Order-k exp-Golomb: v >> k order-0, then the k low bits. */
static void bw_put_egk(BitWriter *w, uint64_t value, unsigned k)
{
    bw_put_eg(w, value >> k);
    bw_put(w, (uint32_t)(value & ((1u << k) - 1)), k);
}

static size_t bw_finish(BitWriter *w) /* returns total bytes; padding bits are zero */
{
    bw_flush(w);
    return w->pos + (w->n > 0);
}

/* ------------------------------------------------------------------------------------------ */
/* bit reader: LSB-first; past the end it feeds zero bytes and callers check overrun          */

typedef struct {
    const uint8_t *data;
    size_t len;        /* bytes */
    size_t pos;        /* next byte to load (may run past len: virtual zero bytes) */
    uint64_t buf;
    unsigned n;        /* valid bits in buf */
} BitReader;

static inline void br_refill_safe(BitReader *r) /* afterwards 56 <= n <= 63 */
{
    while (r->n < 56) {
        uint64_t byte = r->pos < r->len ? r->data[r->pos] : 0;
        r->buf |= byte << r->n;
        r->pos++;
        r->n += 8;
    }
}

/* Like br_refill_safe, with one 8-byte load while 8 bytes remain (the bits above n that this
 * loads early are the same ones a later refill ORs in again). */
static inline void br_refill(BitReader *r)
{
    if (r->pos + 8 <= r->len) {
        r->buf |= load64le(r->data + r->pos) << r->n;
        r->pos += (63 - r->n) >> 3;
        r->n |= 56;
    } else {
        br_refill_safe(r);
    }
}

static inline uint64_t br_consumed(const BitReader *r)
{
    return (uint64_t)r->pos * 8 - r->n;
}

static inline int br_overrun(const BitReader *r)
{
    return br_consumed(r) > (uint64_t)r->len * 8;
}

static uint32_t br_bits(BitReader *r, unsigned nbits) /* nbits <= 32 */
{
    br_refill_safe(r);
    uint32_t v = (uint32_t)(r->buf & ((1ull << nbits) - 1));
    r->buf >>= nbits;
    r->n -= nbits;
    return v;
}

/* Order-0 exp-Golomb; returns -1 on a prefix longer than max_zeros (<= 32): corrupt. */
static int64_t br_eg(BitReader *r, unsigned max_zeros)
{
    br_refill_safe(r);
    if ((r->buf & ((1ull << (max_zeros + 1)) - 1)) == 0)
        return -1;
    unsigned zeros = (unsigned)__builtin_ctzll(r->buf);
    r->buf >>= zeros + 1;
    r->n -= zeros + 1;
    return (int64_t)(((uint64_t)1 << zeros) + br_bits(r, zeros)) - 1;
}

/* ------------------------------------------------------------------------------------------ */
/* code lengths: Moffat-Katajainen in-place Huffman, package-merge when over MAX_LEN          */

typedef struct {
    size_t nused;
    uint16_t *syms;    /* used symbols, ascending */
    uint64_t *freqs;   /* their counts */
    uint8_t *lens;     /* their code lengths (0 for a constant table) */
    uint64_t data_bits;
} Table;

/*
 * Sort a[0..n) ascending by bytes [lo, hi) of the keys, stably (lower bytes keep their input
 * order).  LSD radix sort, skipping bytes that are equal in every key, so the usual case of
 * counts < 2^16 costs two passes; tables are built per channel, and qsort's ~25 ns per symbol
 * would make table building rival the coding itself.  tmp holds n keys.
 */
static void sort_keys(uint64_t *a, size_t n, unsigned lo, unsigned hi, uint64_t *tmp)
{
    if (n <= 32) { /* insertion sort on the masked keys: stable and cheap when tiny */
        uint64_t mask = (hi >= 8 ? ~0ull : (1ull << (8 * hi)) - 1) & ~((1ull << (8 * lo)) - 1);
        for (size_t i = 1; i < n; i++) {
            uint64_t v = a[i];
            size_t j = i;
            for (; j > 0 && (a[j - 1] & mask) > (v & mask); j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    for (unsigned byte = lo; byte < hi; byte++) {
        size_t count[256] = {0};
        unsigned shift = 8 * byte;
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 255]++;
        if (count[(a[0] >> shift) & 255] == n)
            continue; /* every key has this byte: nothing to reorder */
        size_t sum = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 255]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* Moffat & Katajainen (1995): a[] ascending weights -> a[] code lengths, O(n), in place. */
static void moffat_lengths(int64_t *a, int64_t n)
{
    int64_t root = 0, leaf = 2, next, avbl, used, depth;
    a[0] += a[1];
    for (next = 1; next < n - 1; next++) {
        if (leaf >= n || a[root] < a[leaf]) {
            a[next] = a[root];
            a[root++] = next;
        } else {
            a[next] = a[leaf++];
        }
        if (leaf >= n || (root < next && a[root] < a[leaf])) {
            a[next] += a[root];
            a[root++] = next;
        } else {
            a[next] += a[leaf++];
        }
    }
    a[n - 2] = 0;
    for (next = n - 3; next >= 0; next--)
        a[next] = a[a[next]] + 1;
    avbl = 1;
    used = depth = 0;
    root = n - 2;
    next = n - 1;
    while (avbl > 0) {
        while (root >= 0 && a[root] == depth) {
            used++;
            root--;
        }
        while (avbl > used) {
            a[next--] = depth;
            avbl--;
        }
        avbl = 2 * used;
        depth++;
        used = 0;
    }
}

/*
 * Package-merge (Larmore & Hirschberg): optimal code lengths <= maxlen for ascending weights
 * w[0..n), 2 <= n <= 2^maxlen.  Level j holds the leaves merged with pairs ("packages") of
 * level j+1; the first 2n-2 items of level 1 are the optimal selection and a leaf's length is
 * the number of levels at which it is selected.  Since leaves appear in weight order, only the
 * leaf count per selected prefix matters, so each level keeps one is-leaf byte per item.
 */
static int package_merge(const uint64_t *w, size_t n, unsigned maxlen, uint8_t *len)
{
    size_t cap = 2 * n;
    uint64_t *prev = malloc(cap * sizeof *prev), *cur = malloc(cap * sizeof *cur);
    uint8_t *isleaf = malloc(cap * maxlen);
    size_t *size = malloc((maxlen + 1) * sizeof *size);
    int ok = prev && cur && isleaf && size;
    if (ok) {
        memcpy(prev, w, n * sizeof *w);
        memset(isleaf + (size_t)(maxlen - 1) * cap, 1, n);
        size[maxlen] = n;
        for (unsigned j = maxlen - 1; j >= 1; j--) {
            uint8_t *row = isleaf + (size_t)(j - 1) * cap;
            size_t npack = size[j + 1] / 2, a = 0, b = 0, m = 0;
            for (; m < cap && (a < n || b < npack); m++) {
                uint64_t pw = b < npack ? prev[2 * b] + prev[2 * b + 1] : UINT64_MAX;
                if (a < n && (b >= npack || w[a] <= pw)) {
                    cur[m] = w[a++];
                    row[m] = 1;
                } else {
                    cur[m] = pw;
                    b++;
                    row[m] = 0;
                }
            }
            size[j] = m;
            uint64_t *t = prev;
            prev = cur;
            cur = t;
        }
        memset(len, 0, n);
        size_t take = 2 * n - 2;
        for (unsigned j = 1; j <= maxlen && take > 0; j++) {
            const uint8_t *row = isleaf + (size_t)(j - 1) * cap;
            size_t leaves = 0;
            if (take > size[j]) {
                ok = 0; /* impossible when n <= 2^maxlen */
                break;
            }
            for (size_t m = 0; m < take; m++)
                leaves += row[m];
            for (size_t i = 0; i < leaves; i++)
                len[i]++;
            take = 2 * (take - leaves);
        }
    }
    free(prev);
    free(cur);
    free(isleaf);
    free(size);
    return ok ? 0 : -1;
}

/* Fill t->lens (optimal lengths <= MAX_LEN) and t->data_bits.  Returns -1 on out of memory. */
static int build_lengths(Table *t)
{
    size_t n = t->nused;
    if (n <= 1) { /* constant (or empty) table: no bitstream at all */
        if (n == 1)
            t->lens[0] = 0;
        t->data_bits = 0;
        return 0;
    }
    uint64_t *keys = malloc(n * sizeof *keys);
    int64_t *a = malloc(n * sizeof *a);
    uint64_t *w = malloc(n * sizeof *w);
    uint8_t *sorted_len = malloc(n);
    int rc = -1;
    if (keys && a && w && sorted_len) {
        for (size_t i = 0; i < n; i++)
            keys[i] = (t->freqs[i] << 16) | i; /* ties stay in symbol order: deterministic */
        sort_keys(keys, n, 2, 8, w);
        for (size_t i = 0; i < n; i++)
            a[i] = (int64_t)(keys[i] >> 16);
        moffat_lengths(a, (int64_t)n);
        rc = 0;
        if (a[0] > MAX_LEN) { /* a[0] is the longest code */
            for (size_t i = 0; i < n; i++)
                w[i] = keys[i] >> 16;
            rc = package_merge(w, n, MAX_LEN, sorted_len);
        } else {
            for (size_t i = 0; i < n; i++)
                sorted_len[i] = (uint8_t)a[i];
        }
        t->data_bits = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t idx = keys[i] & 0xFFFF;
            t->lens[idx] = sorted_len[i];
            t->data_bits += t->freqs[idx] * sorted_len[i];
        }
    }
    free(keys);
    free(a);
    free(w);
    free(sorted_len);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* dictionary: symbol range + delta-coded lengths (see huffman.py for the token table)         */

static inline void put_token(BitWriter *w, int tok)
{
    static const uint32_t value[] = {0x0, 0x1, 0x3, 0x7, 0xF};
    static const unsigned bits[] = {1, 2, 3, 4, 4};
    bw_put(w, value[tok], bits[tok]);
}

static void write_dictionary(BitWriter *w, const Table *t, unsigned alphabet_bits)
{
    uint32_t lo = t->syms[0], hi = t->syms[t->nused - 1];
    bw_put(w, lo, alphabet_bits);
    bw_put(w, hi - lo, alphabet_bits);
    if (t->nused == 1)
        return;
    int prev = t->lens[0], dir = -1;
    bw_put(w, (uint32_t)prev - 1, FIRST_LEN_BITS);
    for (size_t i = 1; i < t->nused; i++) {
        uint32_t gap = (uint32_t)t->syms[i] - t->syms[i - 1] - 1;
        if (gap) {
            put_token(w, TOK_ZRUN);
            bw_put_eg(w, gap - 1);
        }
        int delta = t->lens[i] - prev;
        if (delta == 0) {
            put_token(w, TOK_SAME);
        } else if (delta == dir) {
            put_token(w, TOK_STEP);
        } else if (delta == -dir) {
            put_token(w, TOK_TURN);
            dir = -dir;
        } else {
            put_token(w, TOK_JUMP);
            bw_put(w, delta < 0, 1);
            bw_put_eg(w, (uint64_t)abs(delta) - 2);
            dir = delta < 0 ? -1 : 1;
        }
        prev = t->lens[i];
    }
}

static uint64_t dictionary_bits(const Table *t, unsigned alphabet_bits)
{
    BitWriter counter = {0};
    if (t->nused == 0)
        return 0;
    write_dictionary(&counter, t, alphabet_bits);
    return counter.counted;
}

static int read_token(BitReader *r)
{
    br_refill_safe(r);
    unsigned ones = (unsigned)__builtin_ctzll(~r->buf | 0x10); /* at most 4 ones matter */
    int tok = ones < TOK_JUMP ? (int)ones : TOK_JUMP;
    unsigned used = tok == TOK_JUMP ? 4 : ones + 1;
    r->buf >>= used;
    r->n -= used;
    return tok;
}

/* Parses one dictionary into syms/lens (capacity 2^alphabet_bits); returns NULL or an error. */
static const char *read_dictionary(BitReader *r, unsigned alphabet_bits, uint16_t *syms,
                                   uint8_t *lens, size_t *nused)
{
    uint32_t lo = br_bits(r, alphabet_bits), span = br_bits(r, alphabet_bits);
    uint32_t hi = lo + span;
    if (hi >= (1u << alphabet_bits))
        return "dictionary symbol range exceeds the alphabet";
    syms[0] = (uint16_t)lo;
    lens[0] = 0;
    *nused = 1;
    if (span == 0)
        return br_overrun(r) ? "payload truncated inside a dictionary" : NULL;
    int prev = (int)br_bits(r, FIRST_LEN_BITS) + 1, dir = -1;
    uint32_t cur = lo;
    size_t n = 1;
    lens[0] = (uint8_t)prev;
    while (cur < hi) {
        int tok = read_token(r);
        if (tok == TOK_ZRUN) {
            int64_t run = br_eg(r, MAX_EG_ZEROS);
            if (run < 0 || cur + (uint64_t)run + 2 > hi)
                return "dictionary zero run is corrupt or runs past the symbol range";
            cur += (uint32_t)run + 1;
            tok = read_token(r);
            if (tok == TOK_ZRUN)
                return "dictionary has two consecutive zero runs";
        }
        int len = prev;
        if (tok == TOK_STEP) {
            len += dir;
        } else if (tok == TOK_TURN) {
            dir = -dir;
            len += dir;
        } else if (tok == TOK_JUMP) {
            int negative = (int)br_bits(r, 1);
            int64_t mag = br_eg(r, MAX_EG_ZEROS);
            if (mag < 0 || mag > MAX_LEN)
                return "dictionary length delta is corrupt";
            dir = negative ? -1 : 1;
            len += dir * (int)(mag + 2);
        }
        if (len < 1 || len > MAX_LEN)
            return "dictionary code length out of range 1..16";
        if (br_overrun(r))
            return "payload truncated inside a dictionary";
        cur++;
        syms[n] = (uint16_t)cur;
        lens[n] = (uint8_t)len;
        n++;
        prev = len;
    }
    *nused = n;
    return br_overrun(r) ? "payload truncated inside a dictionary" : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* canonical codes                                                                             */

typedef struct {
    uint32_t count[MAX_LEN + 1];
    uint32_t first[MAX_LEN + 1];  /* first canonical code of each length */
    uint32_t offset[MAX_LEN + 1]; /* index of that code's symbol in (len, sym) order */
    unsigned maxlen;
} Canon;

/* Returns 0, or -1 when the lengths over- or under-subscribe the code space (Kraft != 1). */
static int canonical_codes(const uint8_t *lens, size_t n, Canon *c)
{
    uint64_t kraft = 0;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c->count[lens[i]]++;
        kraft += 1u << (MAX_LEN - lens[i]);
        if (lens[i] > c->maxlen)
            c->maxlen = lens[i];
    }
    if (kraft != (1u << MAX_LEN))
        return -1;
    uint32_t code = 0, offset = 0;
    for (unsigned l = 1; l <= MAX_LEN; l++) {
        code = (code + c->count[l - 1]) << 1;
        c->first[l] = code;
        c->offset[l] = offset;
        offset += c->count[l];
    }
    return 0;
}

/* Encoder table entry: (bit-reversed code << 5) | length, indexed by symbol. */
static void build_encoder(const Table *t, uint32_t *enc)
{
    Canon c;
    uint32_t next[MAX_LEN + 1];
    canonical_codes(t->lens, t->nused, &c); /* our own lengths: always complete */
    memcpy(next, c.first, sizeof next);
    for (size_t i = 0; i < t->nused; i++) {
        unsigned l = t->lens[i];
        enc[t->syms[i]] = (reverse_bits(next[l]++, l) << 5) | l;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* decoder tables                                                                              */

typedef struct {
    Canon c;
    unsigned k;        /* lookup bits */
    uint32_t *lut;     /* 2^k entries: (sym << 16) | len, or (k-bit code prefix << 16) | 0 */
    uint16_t *sorted;  /* symbols in (len, sym) order */
    int constant;
    uint16_t constant_sym;
} Decoder;

static unsigned lut_bits(unsigned maxlen, size_t segment)
{
    unsigned k = segment > 1 ? floor_log2(segment) + 1 : 1; /* filling costs << decoding */
    if (k < LUT_MIN_BITS)
        k = LUT_MIN_BITS;
    if (k > LUT_MAX_BITS)
        k = LUT_MAX_BITS;
    return k < maxlen ? k : maxlen;
}

static const char *build_decoder(Decoder *d, const uint16_t *syms, const uint8_t *lens,
                                 size_t n, size_t segment)
{
    if (n == 1) {
        d->constant = 1;
        d->constant_sym = syms[0];
        return NULL;
    }
    d->constant = 0;
    if (canonical_codes(lens, n, &d->c) < 0)
        return "dictionary code lengths violate Kraft's equality (over- or under-subscribed)";
    uint32_t next[MAX_LEN + 1];
    memcpy(next, d->c.offset, sizeof next);
    for (size_t i = 0; i < n; i++)
        d->sorted[next[lens[i]]++] = syms[i];
    d->k = lut_bits(d->c.maxlen, segment);
    unsigned k = d->k;
    size_t size = (size_t)1 << k;
    for (unsigned l = 1; l <= d->c.maxlen; l++) {
        for (uint32_t j = 0; j < d->c.count[l]; j++) {
            uint32_t code = d->c.first[l] + j;
            uint32_t sym = d->sorted[d->c.offset[l] + j];
            if (l <= k) {
                for (size_t x = reverse_bits(code, l); x < size; x += (size_t)1 << l)
                    d->lut[x] = (sym << 16) | l;
            } else {
                uint32_t prefix = code >> (l - k);
                d->lut[reverse_bits(prefix, k)] = prefix << 16;
            }
        }
    }
    return NULL;
}

/* Codes longer than k bits: continue canonically from the k-bit prefix, one bit at a time. */
static uint32_t decode_long(const Decoder *d, uint64_t buf, uint32_t entry)
{
    uint32_t code = entry >> 16;
    for (unsigned l = d->k + 1; l <= d->c.maxlen; l++) {
        code = (code << 1) | (uint32_t)((buf >> (l - 1)) & 1);
        uint32_t idx = code - d->c.first[l];
        if (idx < d->c.count[l])
            return ((uint32_t)d->sorted[d->c.offset[l] + idx] << 16) | l;
    }
    return 0; /* unreachable for a complete code */
}

/* (sym << 16) | len of the code at the bottom of buf (>= 16 valid bits), 0 if corrupt.  The
 * table and mask come in as locals: stores to a uint8_t output may alias anything, and would
 * otherwise force a reload of d->lut after every symbol. */
static inline __attribute__((always_inline)) uint32_t
lookup(const Decoder *d, const uint32_t *lut, uint64_t mask, uint64_t buf)
{
    uint32_t e = lut[buf & mask];
    return (e & 31) ? e : decode_long(d, buf, e);
}

static inline void store_symbol(void *dst, size_t i, uint32_t sym, int wide)
{
    if (wide)
        ((uint16_t *)dst)[i] = (uint16_t)sym;
    else
        ((uint8_t *)dst)[i] = (uint8_t)sym;
}

static void fill_symbol(void *dst, size_t start, size_t n, uint32_t sym, int wide)
{
    if (wide) {
        uint16_t *o = (uint16_t *)dst + start;
        for (size_t i = 0; i < n; i++)
            o[i] = (uint16_t)sym;
    } else {
        memset((uint8_t *)dst + start, (int)sym, n);
    }
}

/* One symbol with byte-wise refill; fails as soon as the reader runs past the payload. */
static const char *decode_symbol(BitReader *r, const Decoder *d, uint32_t *sym)
{
    if (d->constant) {
        *sym = d->constant_sym;
        return NULL;
    }
    br_refill(r);
    uint32_t e = lookup(d, d->lut, ((uint64_t)1 << d->k) - 1, r->buf);
    if (!e)
        return "corrupt bitstream";
    r->buf >>= e & 31;
    r->n -= e & 31;
    *sym = e >> 16;
    return br_overrun(r) ? "payload truncated inside a bitstream" : NULL;
}

#define DECODE_ONE(I)                                                    \
    do {                                                                 \
        uint32_t e = lookup(d, lut, mask, buf);                          \
        if (!e)                                                          \
            return "corrupt bitstream";                                  \
        buf >>= e & 31;                                                  \
        nb -= e & 31;                                                    \
        store_symbol(dst, (I), e >> 16, wide);                           \
    } while (0)

static inline __attribute__((always_inline)) const char *
decode_plain_impl(BitReader *r, const Decoder *d, void *dst, size_t n, int wide)
{
    const uint32_t *lut = d->lut;
    const uint64_t mask = ((uint64_t)1 << d->k) - 1;
    const uint8_t *data = r->data;
    uint64_t buf = r->buf;
    unsigned nb = r->n;
    size_t pos = r->pos, len = r->len, i = 0;
    /* fast path: 8 readable bytes, refill to >= 56 bits, then 3 codes of <= 16 bits */
    while (i + 3 <= n && pos + 8 <= len) {
        buf |= load64le(data + pos) << nb;
        pos += (63 - nb) >> 3;
        nb |= 56;
        DECODE_ONE(i);
        DECODE_ONE(i + 1);
        DECODE_ONE(i + 2);
        i += 3;
    }
    r->buf = buf;
    r->n = nb;
    r->pos = pos;
    for (; i < n; i++) { /* the last few bytes: safe refill, zero bytes past the end */
        uint32_t sym;
        const char *err = decode_symbol(r, d, &sym);
        if (err)
            return err;
        store_symbol(dst, i, sym, wide);
    }
    return NULL;
}

/* A plain table's segment: n codes, or n copies of a constant table's symbol. */
static const char *decode_plain(BitReader *r, const Decoder *d, void *dst, size_t n, int wide)
{
    if (d->constant) {
        fill_symbol(dst, 0, n, d->constant_sym, wide);
        return NULL;
    }
    return wide ? decode_plain_impl(r, d, dst, n, 1) : decode_plain_impl(r, d, dst, n, 0);
}

/*
 * A sparse table's segment: (run of mps, then one other symbol) pairs, closed by a final run
 * that reaches the segment's end.  Every pair consumes at least one bit and emits at least one
 * symbol, and runs are checked against the room left, so a hostile stream can neither write
 * past the segment nor loop longer than its own length.
 */
static const char *decode_sparse(BitReader *r, const Decoder *rest, uint32_t mps, unsigned k,
                                 void *dst, size_t n, int wide)
{
    size_t filled = 0;
    for (;;) {
        int64_t quotient = br_eg(r, MAX_RUN_EG_ZEROS);
        if (quotient < 0)
            return "corrupt run length";
        uint64_t run = ((uint64_t)quotient << k) | br_bits(r, k);
        if (br_overrun(r))
            return "payload truncated inside a bitstream";
        if (run > n - filled)
            return "run of the dominant symbol overflows its segment";
        fill_symbol(dst, filled, (size_t)run, mps, wide);
        filled += (size_t)run;
        if (filled == n)
            return NULL;
        uint32_t sym;
        const char *err = decode_symbol(r, rest, &sym);
        if (err)
            return err;
        store_symbol(dst, filled++, sym, wide);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* encoder hot loops                                                                           */

static inline __attribute__((always_inline)) uint32_t sym_at(const void *src, size_t i, int wide)
{
    return wide ? ((const uint16_t *)src)[i] : ((const uint8_t *)src)[i];
}

static inline __attribute__((always_inline)) void
encode_plain_impl(BitWriter *w, const void *src, size_t n, const uint32_t *enc, int wide)
{
    bw_flush(w); /* now n < 8, so three codes of <= 16 bits fit in the accumulator */
    uint8_t *out = w->out;
    uint64_t buf = w->buf;
    unsigned nb = w->n;
    size_t pos = w->pos, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t e0 = enc[sym_at(src, i, wide)];
        uint32_t e1 = enc[sym_at(src, i + 1, wide)];
        uint32_t e2 = enc[sym_at(src, i + 2, wide)];
        buf |= (uint64_t)(e0 >> 5) << nb;
        nb += e0 & 31;
        buf |= (uint64_t)(e1 >> 5) << nb;
        nb += e1 & 31;
        buf |= (uint64_t)(e2 >> 5) << nb;
        nb += e2 & 31;
        store64le(out + pos, buf);
        pos += nb >> 3;
        buf >>= nb & ~7u;
        nb &= 7;
    }
    w->buf = buf;
    w->n = nb;
    w->pos = pos;
    for (; i < n; i++) {
        uint32_t e = enc[sym_at(src, i, wide)];
        bw_put(w, e >> 5, e & 31);
    }
}

static void encode_plain(BitWriter *w, const void *src, size_t n, const uint32_t *enc, int wide)
{
    if (wide)
        encode_plain_impl(w, src, n, enc, 1);
    else
        encode_plain_impl(w, src, n, enc, 0);
}

/* enc == NULL: the other symbols form a constant table and cost no bits. */
static void encode_sparse(BitWriter *w, const void *src, size_t n, uint32_t mps, unsigned k,
                          const uint32_t *enc, int wide)
{
    uint64_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = sym_at(src, i, wide);
        if (v == mps) {
            run++;
            continue;
        }
        bw_put_egk(w, run, k);
        if (enc)
            bw_put(w, enc[v] >> 5, enc[v] & 31);
        run = 0;
    }
    bw_put_egk(w, run, k);
}

#define SHORT_RUNS 32

static inline void add_run_cost(uint64_t *cost, uint64_t run, uint64_t times)
{
    for (unsigned k = 0; k <= EG_K_MAX; k++)
        cost[k] += times * (2 * floor_log2((run >> k) + 1) + 1 + k);
}

/*
 * Exact bits of the run codes for every exp-Golomb order, as encode_sparse will write them.
 * Short runs are counted first and priced once per length; there are at most n / 32 long ones.
 */
static inline __attribute__((always_inline)) void
sparse_run_costs_impl(const void *src, size_t n, uint32_t mps, int wide, uint64_t *cost)
{
    uint64_t short_runs[SHORT_RUNS] = {0}, run = 0;
    memset(cost, 0, (EG_K_MAX + 1) * sizeof *cost);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && sym_at(src, i, wide) == mps) {
            run++;
        } else if (run < SHORT_RUNS) {
            short_runs[run]++;
            run = 0;
        } else {
            add_run_cost(cost, run, 1);
            run = 0;
        }
    }
    for (unsigned r = 0; r < SHORT_RUNS; r++)
        if (short_runs[r])
            add_run_cost(cost, r, short_runs[r]);
}

static void sparse_run_costs(const void *src, size_t n, uint32_t mps, int wide, uint64_t *cost)
{
    if (wide)
        sparse_run_costs_impl(src, n, mps, 1, cost);
    else
        sparse_run_costs_impl(src, n, mps, 0, cost);
}

static inline __attribute__((always_inline)) void
histogram_impl(const void *src, size_t n, uint32_t *hist, int wide)
{
    if (wide || n < 1024) {
        for (size_t i = 0; i < n; i++)
            hist[sym_at(src, i, wide)]++;
        return;
    }
    /* four sub-histograms break the store-to-load dependency on repeated symbols */
    uint32_t sub[4][256];
    const uint8_t *s = src;
    size_t i = 0;
    memset(sub, 0, sizeof sub);
    for (; i + 4 <= n; i += 4) {
        sub[0][s[i]]++;
        sub[1][s[i + 1]]++;
        sub[2][s[i + 2]]++;
        sub[3][s[i + 3]]++;
    }
    for (; i < n; i++)
        sub[0][s[i]]++;
    for (unsigned v = 0; v < 256; v++)
        hist[v] += sub[0][v] + sub[1][v] + sub[2][v] + sub[3][v];
}

static void histogram(const void *src, size_t n, uint32_t *hist, int wide)
{
    if (wide)
        histogram_impl(src, n, hist, 1);
    else
        histogram_impl(src, n, hist, 0);
}

static uint32_t or_reduce(const void *src, size_t n, int wide)
{
    uint32_t acc = 0;
    if (wide) {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++)
            acc |= s[i];
    } else {
        const uint8_t *s = src;
        for (size_t i = 0; i < n; i++)
            acc |= s[i];
    }
    return acc;
}

/*
 * Move the nonzero counts of hist (size hsize) into table t, ascending by symbol, and zero
 * them again so hist can be reused.  For small segments over a large alphabet the segment is
 * scanned instead of the histogram, so the cost is O(min(segment, alphabet)) either way.
 */
static void extract_used(uint32_t *hist, size_t hsize, const void *src, size_t n, int wide,
                         Table *t, uint64_t *scratch /* 2 * min(n, hsize) entries */)
{
    size_t m = 0;
    if (hsize <= 2 * n) {
        for (size_t v = 0; v < hsize; v++)
            if (hist[v]) {
                t->syms[m] = (uint16_t)v;
                t->freqs[m++] = hist[v];
                hist[v] = 0;
            }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t v = sym_at(src, i, wide);
            if (hist[v]) {
                t->syms[m++] = (uint16_t)v;
                t->freqs[m - 1] = hist[v];
                hist[v] = 0;
            }
        }
        /* sort the (sym, freq) pairs by symbol through packed keys (freq < 2^32) */
        for (size_t j = 0; j < m; j++)
            scratch[j] = ((uint64_t)t->syms[j] << 40) | t->freqs[j];
        sort_keys(scratch, m, 5, 7, scratch + m);
        for (size_t j = 0; j < m; j++) {
            t->syms[j] = (uint16_t)(scratch[j] >> 40);
            t->freqs[j] = scratch[j] & ((1ull << 40) - 1);
        }
    }
    t->nused = m;
}

/* ------------------------------------------------------------------------------------------ */
/* encode: plan every segment (plain or sparse table)                                         */

typedef struct {
    Table plain;      /* every used symbol of the segment */
    Table rest;       /* sparse kind: the used symbols other than mps */
    int sparse;
    uint32_t mps;     /* most frequent symbol */
    unsigned eg_k;    /* exp-Golomb order of the runs */
    uint64_t bits;    /* kind bit + dictionary + data, for the chosen kind */
} Segment;

/*
 * Choose the cheaper kind for one segment, by exact bit counts.  A plain Huffman table pays at
 * least one bit per symbol; when one symbol dominates (a nearly dead latent channel, entropy
 * ~0.05 bit) coding its runs costs a small fraction of that.  Only tried when the dominant
 * symbol is more than half of the segment, where the one-bit floor is what hurts.
 */
static int plan_segment(Segment *s, const void *src, size_t n, int wide, unsigned bits)
{
    Table *p = &s->plain, *q = &s->rest;
    if (build_lengths(p) < 0)
        return -1;
    s->sparse = KIND_PLAIN;
    s->bits = 1 + dictionary_bits(p, bits) + p->data_bits;
    if (p->nused < 2)
        return 0;
    size_t top = 0;
    for (size_t i = 1; i < p->nused; i++)
        if (p->freqs[i] > p->freqs[top])
            top = i;
    if (2 * p->freqs[top] <= n)
        return 0;
    q->nused = 0;
    for (size_t i = 0; i < p->nused; i++) {
        if (i == top)
            continue;
        q->syms[q->nused] = p->syms[i];
        q->freqs[q->nused++] = p->freqs[i];
    }
    if (build_lengths(q) < 0)
        return -1;
    uint64_t cost[EG_K_MAX + 1];
    unsigned k = 0;
    sparse_run_costs(src, n, p->syms[top], wide, cost);
    for (unsigned j = 1; j <= EG_K_MAX; j++)
        if (cost[j] < cost[k])
            k = j;
    uint64_t sparse = 1 + bits + EG_K_BITS + dictionary_bits(q, bits) + q->data_bits + cost[k];
    if (sparse < s->bits) {
        s->sparse = KIND_SPARSE;
        s->mps = p->syms[top];
        s->eg_k = k;
        s->bits = sparse;
    }
    return 0;
}

/* A segment's header: kind bit, sparse fields, dictionary; fills enc when it has codes. */
static const Table *write_segment_header(BitWriter *w, const Segment *s, unsigned bits,
                                         uint32_t *enc)
{
    const Table *t = s->sparse ? &s->rest : &s->plain;
    bw_put(w, (uint32_t)s->sparse, 1);
    if (s->sparse) {
        bw_put(w, s->mps, bits);
        bw_put(w, s->eg_k, EG_K_BITS);
    }
    write_dictionary(w, t, bits);
    if (t->nused > 1)
        build_encoder(t, enc);
    return t;
}

static void write_segment(BitWriter *w, const Segment *s, const void *src, size_t n, int wide,
                          unsigned bits, uint32_t *enc)
{
    const Table *t = write_segment_header(w, s, bits, enc);
    if (s->sparse)
        encode_sparse(w, src, n, s->mps, s->eg_k, t->nused > 1 ? enc : NULL, wide);
    else if (t->nused > 1)
        encode_plain(w, src, n, enc, wide);
}

/* Pools that a group of segments' tables point into. */
typedef struct {
    uint16_t *syms;
    uint64_t *freqs;
    uint8_t *lens;
} Pool;

static int pool_alloc(Pool *p, size_t entries)
{
    p->syms = malloc(entries * sizeof *p->syms);
    p->freqs = malloc(entries * sizeof *p->freqs);
    p->lens = malloc(entries);
    return p->syms && p->freqs && p->lens ? 0 : -1;
}

static void pool_free(Pool *p)
{
    free(p->syms);
    free(p->freqs);
    free(p->lens);
}

/* Point a segment's two tables at pool room for `room` symbols each, from `off`. */
static void attach_tables(const Pool *p, Segment *seg, size_t off, size_t room)
{
    seg->plain.syms = p->syms + off;
    seg->plain.freqs = p->freqs + off;
    seg->plain.lens = p->lens + off;
    seg->rest.syms = p->syms + off + room;
    seg->rest.freqs = p->freqs + off + room;
    seg->rest.lens = p->lens + off + room;
}

/* ------------------------------------------------------------------------------------------ */
/* context mode: per channel, tables switched by the activity of the left and up neighbours    */

#define MAX_BUCKETS 8          /* a plane's bucket count is sent as buckets - 1 in 3 bits */
#define BUCKET_FIELD_BITS 3
#define MAX_ACTIVITY 17        /* bit length of |left - ref| + |up - ref| < 2^17 */

/*
 * Activity of a symbol's causal neighbourhood: how far its left and up neighbours lie from the
 * channel's reference symbol, on a log2 scale (0: both equal it, 1: one off by one, 2: 2..3,
 * 3: 4..7, ...).  A plane with `buckets` tables uses min(activity, buckets - 1) as the context.
 * Latent channels are roughly Laplacian around their mode with spatially varying scale, so the
 * neighbours' distance from the mode predicts the current symbol's spread.
 */
static inline __attribute__((always_inline)) unsigned
activity(uint32_t left, uint32_t up, uint32_t ref)
{
    uint32_t a = (left > ref ? left - ref : ref - left) + (up > ref ? up - ref : ref - up);
    return a ? 32u - (unsigned)__builtin_clz(a) : 0;
}

/* A plane's encoder work: activities, the symbols grouped by context, one segment each. */
typedef struct {
    uint8_t *act;              /* activity of every symbol of the plane */
    size_t act_count[MAX_ACTIVITY + 1];
    uint8_t *gathered;         /* the plane's symbols grouped by context, scan order inside */
    size_t start[MAX_BUCKETS + 1];
    Segment seg[MAX_BUCKETS];
    Pool pool;                 /* 2 * (min(plane, MAX_BUCKETS * alphabet) + MAX_BUCKETS) */
    uint32_t *hist;            /* hsize counts, zero between uses */
    uint64_t *scratch;         /* 2 * hsize */
    uint32_t *enc;             /* MAX_BUCKETS * alphabet encoder entries */
} ContextWork;

static int context_work_alloc(ContextWork *cw, size_t plane, int wide, unsigned bits)
{
    size_t alphabet = (size_t)1 << bits, hsize = alphabet < 256 ? 256 : alphabet;
    size_t tables = plane < MAX_BUCKETS * alphabet ? plane : MAX_BUCKETS * alphabet;
    cw->act = malloc(plane);
    cw->gathered = malloc(plane * (wide ? 2 : 1));
    cw->hist = calloc(hsize, sizeof *cw->hist);
    cw->scratch = malloc(2 * hsize * sizeof *cw->scratch);
    cw->enc = malloc(MAX_BUCKETS * alphabet * sizeof *cw->enc);
    if (pool_alloc(&cw->pool, 2 * (tables + MAX_BUCKETS)) < 0)
        return -1;
    return cw->act && cw->gathered && cw->hist && cw->scratch && cw->enc ? 0 : -1;
}

static void context_work_free(ContextWork *cw)
{
    free(cw->act);
    free(cw->gathered);
    free(cw->hist);
    free(cw->scratch);
    free(cw->enc);
    pool_free(&cw->pool);
}

/* Activities of a plane (width columns) and how often each occurs; returns the largest. */
static unsigned plane_activity(ContextWork *cw, const void *src, size_t n, size_t width,
                               uint32_t ref, int wide)
{
    unsigned top = 0;
    memset(cw->act_count, 0, sizeof cw->act_count);
    for (size_t i = 0, col = 0; i < n; i++) {
        uint32_t left = col ? sym_at(src, i - 1, wide) : ref;
        uint32_t up = i >= width ? sym_at(src, i - width, wide) : ref;
        unsigned a = activity(left, up, ref);
        cw->act[i] = (uint8_t)a;
        cw->act_count[a]++;
        col = col + 1 == width ? 0 : col + 1;
    }
    for (unsigned a = 0; a <= MAX_ACTIVITY; a++)
        top = cw->act_count[a] ? a : top;
    return top;
}

/*
 * Plan a plane with `buckets` context tables (after plane_activity): group its symbols by
 * context and plan each group as a segment (plain or sparse, as in the other modes).  A context
 * that never occurs gets a constant table of the reference symbol.  Returns the plane's exact
 * bits (bucket field, reference, every table and the data) or UINT64_MAX when out of memory.
 */
static uint64_t plan_contexts(ContextWork *cw, const void *src, size_t n, int wide,
                              unsigned bits, uint32_t ref, unsigned buckets)
{
    size_t alphabet = (size_t)1 << bits, hsize = alphabet < 256 ? 256 : alphabet;
    size_t count[MAX_BUCKETS] = {0}, fill[MAX_BUCKETS], itemsize = wide ? 2 : 1, off = 0;
    unsigned last = buckets - 1;
    for (unsigned a = 0; a <= MAX_ACTIVITY; a++)
        count[a < last ? a : last] += cw->act_count[a];
    cw->start[0] = 0;
    for (unsigned c = 0; c < buckets; c++)
        cw->start[c + 1] = cw->start[c] + count[c];
    memcpy(fill, cw->start, sizeof fill);
    for (size_t i = 0; i < n; i++) {
        unsigned c = cw->act[i] < last ? cw->act[i] : last;
        if (wide)
            ((uint16_t *)cw->gathered)[fill[c]++] = ((const uint16_t *)src)[i];
        else
            cw->gathered[fill[c]++] = ((const uint8_t *)src)[i];
    }
    uint64_t total = BUCKET_FIELD_BITS + bits;
    for (unsigned c = 0; c < buckets; c++) {
        size_t m = count[c], room = m < alphabet ? m : alphabet;
        const void *part = cw->gathered + cw->start[c] * itemsize;
        Segment *sg = &cw->seg[c];
        room = room ? room : 1;
        attach_tables(&cw->pool, sg, off, room);
        off += 2 * room;
        if (m) {
            histogram(part, m, cw->hist, wide);
            extract_used(cw->hist, hsize, part, m, wide, &sg->plain, cw->scratch);
        } else {
            sg->plain.nused = 1;
            sg->plain.syms[0] = (uint16_t)ref;
            sg->plain.freqs[0] = 0;
        }
        if (plan_segment(sg, part, m, wide, bits) < 0)
            return UINT64_MAX;
        total += sg->bits;
    }
    return total;
}

/* The context plan of one plane: its bucket count (1 = one plain table) and reference symbol. */
typedef struct {
    unsigned buckets;
    uint32_t ref;
} PlaneChoice;

/*
 * Pick the bucket count with the fewest bits for one plane, whose one-table segment `alone` is
 * already planned; the reference symbol is that segment's most frequent one (lowest on ties).
 * Bucket counts past the plane's largest activity + 1 would only add empty tables.  Returns the plane's bits, or UINT64_MAX when out of memory.
 */
static uint64_t choose_buckets(ContextWork *cw, const void *src, size_t n, size_t width,
                               int wide, unsigned bits, const Segment *alone, PlaneChoice *out)
{
    const Table *p = &alone->plain;
    size_t top = 0;
    for (size_t i = 1; i < p->nused; i++)
        if (p->freqs[i] > p->freqs[top])
            top = i;
    out->ref = p->syms[top];
    out->buckets = 1;
    uint64_t best = BUCKET_FIELD_BITS + alone->bits;
    if (p->nused < 2)
        return best; /* a constant plane: nothing to predict */
    unsigned most = plane_activity(cw, src, n, width, out->ref, wide) + 1;
    for (unsigned k = 2; k <= MAX_BUCKETS && k <= most; k++) {
        uint64_t b = plan_contexts(cw, src, n, wide, bits, out->ref, k);
        if (b == UINT64_MAX)
            return b;
        if (b < best) {
            best = b;
            out->buckets = k;
        }
        else
            break; /* sizes fall, then rise with the bucket count: stop at the first rise */
    }
    return best;
}

/*
 * One plane in context mode with buckets >= 2 (after plan_contexts for that count): bucket
 * field, reference, the tables in context order, then every symbol in scan order with its
 * context's table.  A sparse table's runs are interleaved: when its context next occurs after
 * the start or after one of its other symbols, the length of the run of the dominant symbol
 * that begins there (counted in that context's occurrences) is sent, and the occurrence after
 * the run sends the symbol that ends it.  At the plane's end, every sparse context that is
 * waiting for a run gets a final run of 0, so the bits equal the planned segments' exactly.
 */
static void write_context_plane(BitWriter *w, ContextWork *cw, const void *src, size_t n,
                                int wide, unsigned bits, const PlaneChoice *choice)
{
    size_t alphabet = (size_t)1 << bits, next[MAX_BUCKETS];
    const uint32_t *enc[MAX_BUCKETS];
    uint64_t left_in_run[MAX_BUCKETS] = {0};
    int need_run[MAX_BUCKETS];
    unsigned buckets = choice->buckets, last = buckets - 1;
    bw_put(w, buckets - 1, BUCKET_FIELD_BITS);
    bw_put(w, choice->ref, bits);
    for (unsigned c = 0; c < buckets; c++) {
        const Table *t = write_segment_header(w, &cw->seg[c], bits, cw->enc + c * alphabet);
        enc[c] = t->nused > 1 ? cw->enc + c * alphabet : NULL;
        next[c] = cw->start[c];
        need_run[c] = 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned c = cw->act[i] < last ? cw->act[i] : last;
        const Segment *sg = &cw->seg[c];
        uint32_t v = sym_at(src, i, wide);
        if (sg->sparse && need_run[c]) {
            size_t j = next[c], end = cw->start[c + 1];
            while (j < end && sym_at(cw->gathered, j, wide) == sg->mps)
                j++;
            left_in_run[c] = j - next[c];
            bw_put_egk(w, left_in_run[c], sg->eg_k);
            need_run[c] = 0;
        }
        next[c]++;
        if (sg->sparse && left_in_run[c]) {
            left_in_run[c]--;
            continue;
        }
        need_run[c] = 1;
        if (enc[c])
            bw_put(w, enc[c][v] >> 5, enc[c][v] & 31);
    }
    for (unsigned c = 0; c < buckets; c++)
        if (cw->seg[c].sparse && need_run[c])
            bw_put_egk(w, 0, cw->seg[c].eg_k);
}

/* ------------------------------------------------------------------------------------------ */
/* encode: the state of one call, mode choice, payload                                        */

typedef struct {
    size_t nsegments;     /* 1 + channels (per-channel tables considered) or 1 */
    Segment *segments;    /* [0] = whole array, [1..] = per channel */
    Pool pool;            /* the tables of segments[] point into it */
    uint32_t *hist;
    uint64_t *scratch;
    PlaneChoice *planes;  /* context mode: one per channel; NULL when not considered */
    uint64_t context_bits;
    ContextWork cw;
} EncodeState;

static void free_state(EncodeState *s)
{
    free(s->segments);
    pool_free(&s->pool);
    free(s->hist);
    free(s->scratch);
    free(s->planes);
    context_work_free(&s->cw);
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        out[n++] = b | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/* The segment that codes plane c alone with one table. */
static const Segment *plane_segment(const EncodeState *s, size_t c)
{
    return s->nsegments > 1 ? &s->segments[1 + c] : &s->segments[0];
}

/* Context mode: choose every plane's bucket count; returns -1 on out of memory. */
static int analyse_context(EncodeState *s, const void *src, size_t count, size_t channels,
                           size_t width, int wide, unsigned bits)
{
    size_t seg = count / channels, itemsize = wide ? 2 : 1;
    s->planes = calloc(channels, sizeof *s->planes);
    if (!s->planes || context_work_alloc(&s->cw, seg, wide, bits) < 0)
        return -1;
    s->context_bits = 0;
    for (size_t c = 0; c < channels; c++) {
        uint64_t b = choose_buckets(&s->cw, (const uint8_t *)src + c * seg * itemsize, seg, width,
                                    wide, bits, plane_segment(s, c), &s->planes[c]);
        if (b == UINT64_MAX)
            return -1;
        s->context_bits += b;
    }
    return 0;
}

/*
 * Histogram and plan the whole array and (want_channels: 1 if it may pay, 2 forced) every
 * channel, then (width > 0) the context mode; returns -1 on out of memory.  Per-channel and
 * context planning are skipped when even the per-channel floor, 1 + 2B bits per table, is above
 * the one-table size (many tiny channels).
 */
static int analyse(EncodeState *s, const void *src, size_t count, size_t channels, int wide,
                   unsigned bits, int want_channels, size_t width)
{
    size_t alphabet = (size_t)1 << bits, hsize = alphabet < 256 ? 256 : alphabet;
    size_t per = channels > 1 && want_channels ? channels : 0, seg = count / channels;
    size_t room = seg < alphabet ? seg : alphabet; /* used symbols of one channel, at most */
    size_t cap = 2 * (alphabet + per * room), itemsize = wide ? 2 : 1;
    s->nsegments = 1 + per;
    s->segments = calloc(s->nsegments, sizeof *s->segments);
    s->hist = calloc(2 * hsize, sizeof *s->hist);
    s->scratch = malloc(2 * hsize * sizeof *s->scratch);
    if (pool_alloc(&s->pool, cap) < 0 || !s->segments || !s->hist || !s->scratch)
        return -1;
    uint32_t *global = s->hist, *scratch = s->hist + hsize;
    for (size_t c = 0; c < per; c++) {
        const void *part = (const uint8_t *)src + c * seg * itemsize;
        Segment *sg = &s->segments[1 + c];
        attach_tables(&s->pool, sg, 2 * (alphabet + c * room), room); /* segment 0 first */
        histogram(part, seg, scratch, wide);
        extract_used(scratch, hsize, part, seg, wide, &sg->plain, s->scratch);
        for (size_t j = 0; j < sg->plain.nused; j++)
            global[sg->plain.syms[j]] += (uint32_t)sg->plain.freqs[j];
    }
    if (!per)
        histogram(src, count, global, wide);
    Segment *whole = &s->segments[0];
    attach_tables(&s->pool, whole, 0, alphabet);
    extract_used(global, hsize, src, count, wide, &whole->plain, s->scratch);
    if (plan_segment(whole, src, count, wide, bits) < 0)
        return -1;
    if (want_channels == 1 && (uint64_t)per * (1 + 2 * bits) >= whole->bits)
        return s->nsegments = 1, 0; /* per-channel tables cannot win */
    for (size_t c = 0; c + 1 < s->nsegments; c++) {
        const void *part = (const uint8_t *)src + c * seg * itemsize;
        if (plan_segment(&s->segments[1 + c], part, seg, wide, bits) < 0)
            return -1;
    }
    if (width && (channels == 1 || s->nsegments > 1))
        return analyse_context(s, src, count, channels, width, wide, bits);
    return 0;
}

static uint64_t mode_bits(const EncodeState *s, int mode)
{
    uint64_t total = 0;
    if (mode == MODE_SINGLE)
        return s->segments[0].bits;
    if (mode == MODE_CONTEXT)
        return s->context_bits;
    for (size_t i = 1; i < s->nsegments; i++)
        total += s->segments[i].bits;
    return total;
}

#define MAX_HEADER_BYTES (1 + 3 * MAX_VARINT_BYTES)

/* Byte 0, count, channels and (context mode) width; returns the header's length. */
static size_t put_header(uint8_t *out, int mode, unsigned bits, size_t count, size_t channels,
                         size_t width)
{
    size_t n = 0;
    out[n++] = (uint8_t)((mode << 4) | (bits - 1));
    n += put_varint(out + n, count);
    n += put_varint(out + n, channels);
    if (mode == MODE_CONTEXT)
        n += put_varint(out + n, width);
    return n;
}

/* Exact payload bytes of a mode. */
static size_t payload_bytes(const EncodeState *s, int mode, unsigned bits, size_t count,
                            size_t channels, size_t width)
{
    uint8_t header[MAX_HEADER_BYTES];
    uint64_t nbits = count ? mode_bits(s, mode) : 0;
    return put_header(header, mode, bits, count, channels, width) + (size_t)((nbits + 7) / 8);
}

/* Every plane in context mode: its bucket field, then one table or its context tables + data. */
static void write_context_planes(BitWriter *w, EncodeState *s, const void *src, size_t count,
                                 size_t channels, size_t width, int wide, unsigned bits,
                                 uint32_t *enc)
{
    size_t seg = count / channels, itemsize = wide ? 2 : 1;
    for (size_t c = 0; c < channels; c++) {
        const void *part = (const uint8_t *)src + c * seg * itemsize;
        const PlaneChoice *choice = &s->planes[c];
        if (choice->buckets == 1) {
            bw_put(w, 0, BUCKET_FIELD_BITS);
            write_segment(w, plane_segment(s, c), part, seg, wide, bits, enc);
            continue;
        }
        plane_activity(&s->cw, part, seg, width, choice->ref, wide);
        plan_contexts(&s->cw, part, seg, wide, bits, choice->ref, choice->buckets); /* as sized */
        write_context_plane(w, &s->cw, part, seg, wide, bits, choice);
    }
}

static PyObject *write_payload(EncodeState *s, int mode, const void *src, size_t count,
                               size_t channels, size_t width, int wide, unsigned bits)
{
    uint8_t header[MAX_HEADER_BYTES];
    size_t hlen = put_header(header, mode, bits, count, channels, width);
    size_t total = payload_bytes(s, mode, bits, count, channels, width);
    uint8_t *out = malloc(total + 16);
    uint32_t *enc = malloc(((size_t)1 << bits) * sizeof *enc);
    if (!out || !enc) {
        free(out);
        free(enc);
        return PyErr_NoMemory();
    }
    memcpy(out, header, hlen);
    BitWriter w = {out + hlen, 0, 0, 0, 0};
    if (count && mode == MODE_CONTEXT) {
        write_context_planes(&w, s, src, count, channels, width, wide, bits, enc);
    } else {
        size_t first = mode == MODE_SINGLE ? 0 : 1, nseg = mode == MODE_SINGLE ? 1 : channels;
        size_t seg = count / nseg;
        for (size_t i = 0; count && i < nseg; i++)
            write_segment(&w, &s->segments[first + i],
                          (const uint8_t *)src + i * seg * (wide ? 2 : 1), seg, wide, bits, enc);
    }
    size_t written = hlen + bw_finish(&w);
    PyObject *result = NULL;
    if (written != total)
        PyErr_SetString(PyExc_RuntimeError, "internal error: payload size mismatch");
    else
        result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)total);
    free(out);
    free(enc);
    return result;
}

/* The smallest mode that `mode` allows (ties go to the lower mode). */
static int choose_mode(const EncodeState *s, int mode, unsigned bits, size_t count,
                       size_t channels, size_t width)
{
    int chosen = MODE_SINGLE;
    if (!count)
        return chosen;
    size_t best = payload_bytes(s, MODE_SINGLE, bits, count, channels, width);
    if (s->nsegments > 1 && (mode == MODE_PER_CHANNEL || mode == MODE_AUTO)) {
        size_t b = payload_bytes(s, MODE_PER_CHANNEL, bits, count, channels, width);
        if (mode == MODE_PER_CHANNEL || b < best) {
            chosen = MODE_PER_CHANNEL;
            best = b;
        }
    }
    if (s->planes && (mode == MODE_CONTEXT || mode == MODE_AUTO) &&
        (mode == MODE_CONTEXT ||
         payload_bytes(s, MODE_CONTEXT, bits, count, channels, width) < best))
        chosen = MODE_CONTEXT;
    return chosen;
}

static PyObject *py_encode(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int itemsize, bits, mode;
    Py_ssize_t channels, width;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iinni", &view, &itemsize, &bits, &channels, &width, &mode))
        return NULL;
    PyObject *result = NULL;
    EncodeState s = {0};
    size_t count = (size_t)view.len / (size_t)(itemsize > 0 ? itemsize : 1);
    int wide = itemsize == 2;
    if ((itemsize != 1 && itemsize != 2) || view.len % itemsize) {
        PyErr_SetString(PyExc_ValueError, "symbols must be a uint8 or uint16 buffer");
    } else if (bits < 1 || bits > MAX_ALPHABET_BITS) {
        PyErr_SetString(PyExc_ValueError, "alphabet_bits must be in 1..16");
    } else if (channels < 1 || count % (size_t)channels) {
        PyErr_SetString(PyExc_ValueError, "channels must be >= 1 and divide the symbol count");
    } else if (width < 0 || (width && (count / (size_t)channels) % (size_t)width)) {
        PyErr_SetString(PyExc_ValueError, "width must be 0 or divide the symbols per channel");
    } else if (count > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "at most 2^32-1 symbols per call");
    } else if (mode < MODE_AUTO || mode > MODE_CONTEXT || (mode == MODE_CONTEXT && !width)) {
        PyErr_SetString(PyExc_ValueError, "mode must be -1 (auto), 0, 1 or 2 (needs a width)");
    } else if (or_reduce(view.buf, count, wide) >> bits) {
        PyErr_Format(PyExc_ValueError, "a symbol is >= 2**alphabet_bits = %d", 1 << bits);
    } else {
        int want = channels < 2 || mode == MODE_SINGLE ? 0
                   : mode == MODE_AUTO             ? 1
                                                   : 2;
        size_t ctx_width = mode == MODE_AUTO || mode == MODE_CONTEXT ? (size_t)width : 0;
        int rc = 0;
        /* the GIL stays held: another thread mutating the array after the range check
         * could otherwise push a symbol past the tables */
        if (count)
            rc = analyse(&s, view.buf, count, (size_t)channels, wide, (unsigned)bits, want,
                         ctx_width);
        if (rc < 0) {
            PyErr_NoMemory();
        } else {
            int chosen = choose_mode(&s, mode, (unsigned)bits, count, (size_t)channels,
                                     (size_t)width);
            result = write_payload(&s, chosen, view.buf, count, (size_t)channels, (size_t)width,
                                   wide, (unsigned)bits);
        }
    }
    free_state(&s);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* decode                                                                                      */

static const char *read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *value)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < MAX_VARINT_BYTES; i++) {
        if (*pos >= len)
            return "payload truncated inside the header";
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1)
            return "header integer overflows 64 bits";
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return "header integer has a non-minimal encoding";
            *value = v;
            return NULL;
        }
    }
    return "header integer is too long"; /* unreachable: byte 10 either ends or overflows */
}

static const char *check_header(const uint8_t *p, size_t len, size_t *pos, unsigned bits,
                                uint64_t count, uint64_t channels, int *mode, uint64_t *width)
{
    uint64_t got_count, got_channels;
    const char *err;
    if (len == 0)
        return "empty payload";
    *mode = p[0] >> 4;
    *pos = 1;
    if ((p[0] & 15u) + 1 != bits)
        return "payload alphabet_bits differs from the frame header";
    if (*mode != MODE_SINGLE && *mode != MODE_PER_CHANNEL && *mode != MODE_CONTEXT)
        return "unknown table mode";
    if ((err = read_varint(p, len, pos, &got_count)))
        return err;
    if (got_count != count)
        return "payload symbol count differs from the frame header";
    if ((err = read_varint(p, len, pos, &got_channels)))
        return err;
    if (got_channels != channels)
        return "payload channel count differs from the frame header";
    *width = 0;
    if (*mode != MODE_CONTEXT)
        return NULL;
    if ((err = read_varint(p, len, pos, width)))
        return err;
    if (*width == 0 || (count / channels) % *width)
        return "context mode width does not divide the symbols per channel";
    return NULL;
}

static const char *check_end(const BitReader *r)
{
    uint64_t used = br_consumed(r);
    if (used > (uint64_t)r->len * 8)
        return "payload truncated";
    if ((used + 7) / 8 != r->len)
        return "trailing bytes after the bitstream";
    if (used % 8 && (r->data[r->len - 1] >> (used % 8)))
        return "nonzero padding bits after the bitstream";
    return NULL;
}

typedef struct {
    uint16_t *syms;
    uint8_t *lens;
    Decoder d[MAX_BUCKETS];  /* [0] for plain segments; all MAX_BUCKETS in context mode */
    size_t ndecoders;        /* how many have their sorted/lut buffers */
} DecodeState;

static int decode_state_alloc(DecodeState *s, unsigned bits, size_t ndecoders)
{
    size_t alphabet = (size_t)1 << bits;
    memset(s, 0, sizeof *s);
    s->ndecoders = ndecoders;
    s->syms = malloc(alphabet * sizeof *s->syms);
    s->lens = malloc(alphabet);
    int ok = s->syms && s->lens;
    for (size_t i = 0; i < ndecoders; i++) {
        s->d[i].sorted = malloc(alphabet * sizeof *s->d[i].sorted);
        s->d[i].lut = malloc(((size_t)1 << LUT_MAX_BITS) * sizeof *s->d[i].lut);
        ok = ok && s->d[i].sorted && s->d[i].lut;
    }
    return ok ? 0 : -1;
}

static void decode_state_free(DecodeState *s)
{
    free(s->syms);
    free(s->lens);
    for (size_t i = 0; i < s->ndecoders; i++) {
        free(s->d[i].sorted);
        free(s->d[i].lut);
    }
}

/* A table header: kind bit, sparse fields, dictionary; builds decoder d for a segment of n. */
static const char *read_table(BitReader *r, DecodeState *s, Decoder *d, unsigned bits, size_t n,
                              int *sparse, uint32_t *mps, unsigned *k)
{
    size_t nused;
    *sparse = (int)br_bits(r, 1);
    *mps = 0;
    *k = 0;
    if (*sparse) {
        *mps = br_bits(r, bits);
        *k = br_bits(r, EG_K_BITS);
    }
    const char *err = read_dictionary(r, bits, s->syms, s->lens, &nused);
    return err ? err : build_decoder(d, s->syms, s->lens, nused, n);
}

/* One segment: table kind, dictionary, then its bitstream. */
static const char *decode_segment(BitReader *r, DecodeState *s, unsigned bits, void *dst,
                                  size_t n, int wide)
{
    uint32_t mps;
    unsigned k;
    int sparse;
    const char *err = read_table(r, s, &s->d[0], bits, n, &sparse, &mps, &k);
    if (!err)
        err = sparse ? decode_sparse(r, &s->d[0], mps, k, dst, n, wide)
                     : decode_plain(r, &s->d[0], dst, n, wide);
    return err;
}

/* Interleaved-run state of one sparse context table (see write_context_plane). */
typedef struct {
    int sparse, need_run;
    uint32_t mps;
    unsigned k;
    uint64_t left_in_run;
} ContextState;

/*
 * The symbols of a context-mode plane, in scan order, each with the table its decoded left and
 * up neighbours select.  Every symbol consumes at most one run and one code, runs are checked
 * against the symbols left in the plane, and every sparse context must end exactly: waiting for
 * a run (which must then be a final 0) or with its last run used up.
 */
static inline __attribute__((always_inline)) const char *
decode_context_impl(BitReader *r, DecodeState *s, ContextState *cs, unsigned buckets,
                    uint32_t ref, void *dst, size_t n, size_t width, int wide)
{
    unsigned last = buckets - 1;
    const char *err;
    for (size_t i = 0, col = 0; i < n; i++) {
        uint32_t left = col ? sym_at(dst, i - 1, wide) : ref;
        uint32_t up = i >= width ? sym_at(dst, i - width, wide) : ref, sym;
        unsigned c = activity(left, up, ref);
        ContextState *t = &cs[c < last ? c : last];
        col = col + 1 == width ? 0 : col + 1;
        if (t->sparse && t->need_run) {
            int64_t quotient = br_eg(r, MAX_RUN_EG_ZEROS);
            if (quotient < 0)
                return "corrupt run length";
            t->left_in_run = ((uint64_t)quotient << t->k) | br_bits(r, t->k);
            if (br_overrun(r))
                return "payload truncated inside a bitstream";
            if (t->left_in_run > n - i)
                return "run of the dominant symbol overflows its plane";
            t->need_run = 0;
        }
        if (t->sparse && t->left_in_run) {
            t->left_in_run--;
            store_symbol(dst, i, t->mps, wide);
            continue;
        }
        t->need_run = 1;
        if ((err = decode_symbol(r, &s->d[t - cs], &sym)))
            return err;
        store_symbol(dst, i, sym, wide);
    }
    for (unsigned c = 0; c < buckets; c++) {
        if (!cs[c].sparse)
            continue;
        if (cs[c].left_in_run)
            return "run of the dominant symbol overflows its context";
        if (cs[c].need_run && (br_eg(r, MAX_RUN_EG_ZEROS) != 0 || br_bits(r, cs[c].k) != 0))
            return "final run of a context is not zero";
    }
    return br_overrun(r) ? "payload truncated inside a bitstream" : NULL;
}

/* One plane in context mode: bucket count, then one table or reference + context tables. */
static const char *decode_context_plane(BitReader *r, DecodeState *s, unsigned bits, void *dst,
                                        size_t n, size_t width, int wide)
{
    ContextState cs[MAX_BUCKETS];
    unsigned buckets = br_bits(r, BUCKET_FIELD_BITS) + 1;
    if (buckets == 1)
        return decode_segment(r, s, bits, dst, n, wide);
    uint32_t ref = br_bits(r, bits);
    for (unsigned c = 0; c < buckets; c++) {
        const char *err = read_table(r, s, &s->d[c], bits, n, &cs[c].sparse, &cs[c].mps,
                                     &cs[c].k);
        if (err)
            return err;
        cs[c].need_run = 1;
        cs[c].left_in_run = 0;
    }
    if (br_overrun(r))
        return "payload truncated inside a dictionary";
    return wide ? decode_context_impl(r, s, cs, buckets, ref, dst, n, width, 1)
                : decode_context_impl(r, s, cs, buckets, ref, dst, n, width, 0);
}

static const char *decode_all(const uint8_t *p, size_t len, void *out, unsigned bits,
                              size_t count, size_t channels, int wide)
{
    size_t pos;
    int mode;
    uint64_t width;
    const char *err = check_header(p, len, &pos, bits, count, channels, &mode, &width);
    if (err)
        return err;
    if (count == 0)
        return pos == len ? NULL : "trailing bytes after an empty payload";
    size_t nseg = mode == MODE_SINGLE ? 1 : channels, seg = count / nseg;
    DecodeState s;
    BitReader r = {p + pos, len - pos, 0, 0, 0};
    if (decode_state_alloc(&s, bits, mode == MODE_CONTEXT ? MAX_BUCKETS : 1) < 0)
        err = "out of memory";
    for (size_t i = 0; i < nseg && !err; i++) {
        void *dst = (uint8_t *)out + i * seg * (wide ? 2 : 1);
        err = mode == MODE_CONTEXT ? decode_context_plane(&r, &s, bits, dst, seg, width, wide)
                                   : decode_segment(&r, &s, bits, dst, seg, wide);
    }
    if (!err)
        err = check_end(&r);
    decode_state_free(&s);
    return err;
}

static PyObject *py_decode(PyObject *self, PyObject *args)
{
    Py_buffer payload, out;
    int bits;
    Py_ssize_t count, channels;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*inn", &payload, &out, &bits, &count, &channels))
        return NULL;
    const char *err = NULL;
    int wide = bits > 8;
    if (bits < 1 || bits > MAX_ALPHABET_BITS)
        err = "alphabet_bits must be in 1..16";
    else if (count < 0 || channels < 1 || count % channels)
        err = "channels must be >= 1 and divide the symbol count";
    else if (out.len != count * (wide ? 2 : 1))
        err = "output buffer has the wrong size";
    if (!err) {
        Py_BEGIN_ALLOW_THREADS
        err = decode_all(payload.buf, (size_t)payload.len, out.buf, (unsigned)bits,
                         (size_t)count, (size_t)channels, wide);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&out);
    if (err)
        return PyUnicode_FromString(err);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* helpers for tests and benchmarks                                                            */

/* Table from a per-symbol array of counts (uint64) or lengths (uint8); syms ascending. */
static int table_from_array(Table *t, const void *arr, size_t n, int is_counts)
{
    t->syms = malloc((n ? n : 1) * sizeof *t->syms);
    t->freqs = malloc((n ? n : 1) * sizeof *t->freqs);
    t->lens = malloc(n ? n : 1);
    if (!t->syms || !t->freqs || !t->lens)
        return -1;
    t->nused = 0;
    for (size_t v = 0; v < n; v++) {
        uint64_t x = is_counts ? ((const uint64_t *)arr)[v] : ((const uint8_t *)arr)[v];
        if (x) {
            t->syms[t->nused] = (uint16_t)v;
            t->freqs[t->nused] = x;
            t->lens[t->nused++] = (uint8_t)x;
        }
    }
    return 0;
}

static void table_free(Table *t)
{
    free(t->syms);
    free(t->freqs);
    free(t->lens);
}

static PyObject *py_code_lengths(PyObject *self, PyObject *args)
{
    Py_buffer counts;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &counts))
        return NULL;
    size_t n = (size_t)counts.len / 8;
    PyObject *result = NULL;
    Table t = {0};
    if (n > ((size_t)1 << MAX_ALPHABET_BITS) || counts.len % 8) {
        PyErr_SetString(PyExc_ValueError, "counts must be at most 65536 uint64 values");
    } else {
        for (size_t v = 0; v < n; v++) {
            if (((const uint64_t *)counts.buf)[v] >> 40) {
                PyErr_SetString(PyExc_ValueError, "counts must be below 2**40");
                goto done;
            }
        }
        if (table_from_array(&t, counts.buf, n, 1) < 0 || build_lengths(&t) < 0) {
            PyErr_NoMemory();
        } else if ((result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n))) {
            uint8_t *lens = (uint8_t *)PyBytes_AS_STRING(result);
            memset(lens, 0, n);
            for (size_t i = 0; i < t.nused; i++)
                lens[t.syms[i]] = t.lens[i];
        }
    }
done:
    table_free(&t);
    PyBuffer_Release(&counts);
    return result;
}

static PyObject *py_dictionary_bits(PyObject *self, PyObject *args)
{
    Py_buffer lens;
    int bits;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*i", &lens, &bits))
        return NULL;
    PyObject *result = NULL;
    Table t = {0};
    if (bits < 1 || bits > MAX_ALPHABET_BITS || (size_t)lens.len > ((size_t)1 << bits)) {
        PyErr_SetString(PyExc_ValueError, "need at most 2**alphabet_bits lengths, bits 1..16");
    } else if (table_from_array(&t, lens.buf, (size_t)lens.len, 0) < 0) {
        PyErr_NoMemory();
    } else {
        if (t.nused == 1)
            t.lens[0] = 0;
        result = PyLong_FromUnsignedLongLong(1 + dictionary_bits(&t, (unsigned)bits));
    }
    table_free(&t);
    PyBuffer_Release(&lens);
    return result;
}

static PyMethodDef methods[] = {
    {"encode", py_encode, METH_VARARGS,
     "encode(symbols_buffer, itemsize, alphabet_bits, channels, width, mode) -> bytes\n"
     "mode: -1 = pick the smallest, 0 = one table, 1 = one table per channel, 2 = context\n"
     "tables per channel (needs width > 0: the columns of each channel's plane)."},
    {"decode", py_decode, METH_VARARGS,
     "decode(payload, out_buffer, alphabet_bits, count, channels) -> None or error message"},
    {"code_lengths", py_code_lengths, METH_VARARGS,
     "code_lengths(uint64 counts buffer) -> bytes of length-limited Huffman code lengths"},
    {"dictionary_bits", py_dictionary_bits, METH_VARARGS,
     "dictionary_bits(uint8 lengths buffer, alphabet_bits) -> bits of the encoded dictionary"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_huffman", "C inner loops of latentlink.codec.huffman", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__huffman(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "MAX_CODE_LENGTH", MAX_LEN) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
