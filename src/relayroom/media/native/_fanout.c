/*
 * Native fan-out for the media worker's forwarding hot path (issue 21, decision 0032).
 *
 * One call per input packet (FanOut.forward) does, for every consumer armed on it, what the Python
 * path does per consumer (consumer.py Consumer.send_rtp -> WebRtcTransport.send_rtp_rewritten ->
 * SrtpPair.protect_rewritten -> Worker.send_rtp -> UdpSender): the reordering guard, the seq/timestamp
 * rewrite and the consumer's counters, the header rewrite (PT, seq, timestamp, SSRC), the transport-wide
 * sequence number of a transport-cc subscriber (WebRtcTransport.stamp_transport_cc), SRTP protect
 * with the transport's own libsrtp context, and one sendmmsg for all outputs.
 *
 * Python owns the state. It pushes it here when it changes (Entry.load when a consumer is armed,
 * Target.set_srtp / set_addr when a transport connects or its tuple moves) and reads it back when it
 * needs it (Entry.state: last seq/timestamp, packet and octet counts).
 *
 * libsrtp is the one pylibsrtp ships: Python hands us the address of its srtp_protect (from the cffi
 * lib) once, and each transport's srtp_t; the Session object stays referenced by the Target.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_PACKET 1500
#define TRAILER (16 + 128) /* SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN, as pylibsrtp reserves */
#define SLOT (MAX_PACKET + TRAILER)

typedef int (*srtp_protect_fn)(void *ctx, void *hdr, int *len);

static srtp_protect_fn g_protect = NULL;

/* ---------------------------------------------------------------- Sender: the worker's UDP socket */

/*
 * Every RTP datagram of the worker (forwarded natively, or queued by the Python path through
 * Sender.queue) waits here until the end of the event-loop turn (Sender.flush, scheduled by Python
 * when forward/queue return True), like UdpSender: then the datagrams of each address leave in
 * arrival order, runs of equal size (the last may be shorter) as one UDP GSO message (UDP_SEGMENT),
 * all messages in sendmmsg calls. Without GSO every datagram is its own message, sent at once.
 */
#define CAP 4096           /* datagrams pending per turn (a full queue is flushed early) */
#define MAX_SEGMENTS 64    /* as udp_sender.py */
#define MAX_GSO_BYTES 65000
#define HASH (2 * CAP)     /* address table, open addressing, power of two */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

typedef struct {
    struct sockaddr_in addr;
    uint32_t len;
    int32_t next; /* next pending datagram to the same address, -1 */
} Pend;

typedef struct {
    uint64_t key;
    uint32_t gen;
    int32_t head, tail;
} Slot;

typedef struct {
    PyObject_HEAD
    int fd;
    int gso;
    int scheduled; /* a flush is scheduled for the end of this turn */
    int npend;
    uint32_t gen;
    unsigned long long tx_packets; /* queued (as Worker.send_rtp counts) */
    unsigned long long tx_bytes;
    unsigned long long send_errors;
    unsigned long long calls; /* sendmmsg calls */
    unsigned long long gso_calls;
    unsigned long long gso_packets;
    unsigned char *slab; /* CAP datagram buffers */
    Pend *pend;
    Slot *table;
    int32_t *groups; /* first pending datagram of each address, in first-arrival order */
    struct mmsghdr *msgs;
    struct iovec *iovs;
    char *cmsgs; /* one UDP_SEGMENT control message per mmsghdr */
} Sender;

#define CMSG_SZ CMSG_SPACE(sizeof(uint16_t))

static int Sender_init(Sender *self, PyObject *args, PyObject *kw) {
    int fd, gso = 0;
    if (!PyArg_ParseTuple(args, "i|p", &fd, &gso)) return -1;
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "bad file descriptor");
        return -1;
    }
    self->fd = fd;
    self->gso = gso;
    if (self->slab == NULL) {
        self->slab = PyMem_Malloc((size_t)CAP * SLOT);
        self->pend = PyMem_Calloc(CAP, sizeof(Pend));
        self->table = PyMem_Calloc(HASH, sizeof(Slot));
        self->groups = PyMem_Calloc(CAP, sizeof(int32_t));
        self->msgs = PyMem_Calloc(CAP, sizeof(struct mmsghdr));
        self->iovs = PyMem_Calloc(CAP, sizeof(struct iovec));
        self->cmsgs = PyMem_Calloc(CAP, CMSG_SZ);
        if (!self->slab || !self->pend || !self->table || !self->groups || !self->msgs || !self->iovs ||
            !self->cmsgs) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static void Sender_dealloc(Sender *self) {
    PyMem_Free(self->slab);
    PyMem_Free(self->pend);
    PyMem_Free(self->table);
    PyMem_Free(self->groups);
    PyMem_Free(self->msgs);
    PyMem_Free(self->iovs);
    PyMem_Free(self->cmsgs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* sendmmsg msgs[0:n]; a message that fails is dropped and its datagrams counted, as UdpSender does */
static void send_messages(Sender *s, unsigned int n) {
    unsigned int i = 0;
    while (i < n) {
        int r = sendmmsg(s->fd, s->msgs + i, n - i, 0);
        s->calls++;
        if (r < 0) {
            if (errno == EINTR) continue;
            s->send_errors += s->msgs[i].msg_hdr.msg_iovlen; /* the first message failed: skip it */
            i++;
        } else {
            i += (unsigned int)r;
        }
    }
}

/* message m: `count` datagrams to pend[first]'s address, from iovs[iov] on (filled by the caller) */
static void add_message(Sender *s, unsigned int m, int first, unsigned int iov, unsigned int count,
                        uint32_t size) {
    struct msghdr *h = &s->msgs[m].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &s->pend[first].addr;
    h->msg_namelen = sizeof(struct sockaddr_in);
    h->msg_iov = &s->iovs[iov];
    h->msg_iovlen = count;
    if (count > 1) {
        char *c = s->cmsgs + (size_t)m * CMSG_SZ;
        memset(c, 0, CMSG_SZ);
        h->msg_control = c;
        h->msg_controllen = CMSG_SZ;
        struct cmsghdr *cm = CMSG_FIRSTHDR(h);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = (uint16_t)size;
        memcpy(CMSG_DATA(cm), &seg, sizeof seg);
        s->gso_calls++;
        s->gso_packets += count;
    }
}

/* everything pending leaves now */
static void sender_flush(Sender *s) {
    int n = s->npend;
    s->npend = 0;
    if (n == 0) return;
    unsigned int m = 0;
    if (!s->gso) {
        for (int i = 0; i < n; i++) {
            s->iovs[i].iov_base = s->slab + (size_t)i * SLOT;
            s->iovs[i].iov_len = s->pend[i].len;
            add_message(s, m++, i, (unsigned int)i, 1, 0);
        }
        send_messages(s, m);
        return;
    }
    /* group by address (first-arrival order), keeping arrival order within each address */
    s->gen++;
    if (s->gen == 0) { /* wrapped: forget every stamp */
        memset(s->table, 0, (size_t)HASH * sizeof(Slot));
        s->gen = 1;
    }
    int ngroups = 0;
    for (int i = 0; i < n; i++) {
        Pend *p = &s->pend[i];
        p->next = -1;
        uint64_t key = ((uint64_t)p->addr.sin_addr.s_addr << 16) | p->addr.sin_port;
        uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 40;
        for (;;) {
            Slot *e = &s->table[h & (HASH - 1)];
            if (e->gen != s->gen) {
                e->gen = s->gen;
                e->key = key;
                e->head = e->tail = i;
                s->groups[ngroups++] = i;
                break;
            }
            if (e->key == key) {
                s->pend[e->tail].next = i;
                e->tail = i;
                break;
            }
            h++;
        }
    }
    /* iovecs are laid out group by group, run by run: a message's segments must be contiguous there */
    unsigned int v = 0; /* next free iovec */
    for (int g = 0; g < ngroups; g++) {
        int i = s->groups[g];
        while (i >= 0) {
            uint32_t size = s->pend[i].len;
            unsigned int limit = size ? MAX_GSO_BYTES / size : 1;
            if (limit > MAX_SEGMENTS) limit = MAX_SEGMENTS;
            if (limit < 1) limit = 1;
            unsigned int first_v = v, count = 0;
            int first = i;
            while (i >= 0 && count < limit) {
                uint32_t len = s->pend[i].len;
                if (len > size || (len < size && count == 0)) break;
                s->iovs[v].iov_base = s->slab + (size_t)i * SLOT;
                s->iovs[v].iov_len = len;
                v++;
                count++;
                i = s->pend[i].next;
                if (len < size) break; /* a shorter last segment ends the run */
            }
            add_message(s, m++, first, first_v, count, size);
        }
    }
    send_messages(s, m);
}

/* the next free datagram buffer (the queue is flushed first when full) */
static inline int sender_slot(Sender *s) {
    if (s->npend == CAP) sender_flush(s);
    return s->npend;
}

/* after queueing: True when Python must schedule flush() for the end of this turn */
static inline int sender_after_queue(Sender *s) {
    if (!s->gso) {
        sender_flush(s);
        return 0;
    }
    if (s->npend && !s->scheduled) {
        s->scheduled = 1;
        return 1;
    }
    return 0;
}

static PyObject *Sender_flush(Sender *s, PyObject *unused) {
    s->scheduled = 0;
    sender_flush(s);
    Py_RETURN_NONE;
}

static int parse_addr(const char *host, int port, struct sockaddr_in *a) {
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    if (port < 0 || port > 65535 || inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        PyErr_SetString(PyExc_ValueError, "not an IPv4 address and port");
        return -1;
    }
    a->sin_port = htons((uint16_t)port);
    return 0;
}

/* queue(data, (host, port)): an RTP datagram of the Python path, in the same per-turn queue */
static PyObject *Sender_queue(Sender *s, PyObject *const *args, Py_ssize_t nargs) {
    const char *host;
    int port;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyArg_ParseTuple(args[1], "si", &host, &port)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "queue(data: bytes, addr)");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (n > SLOT) {
        PyErr_SetString(PyExc_ValueError, "datagram too large");
        return NULL;
    }
    struct sockaddr_in a;
    if (parse_addr(host, port, &a) < 0) return NULL;
    int k = sender_slot(s);
    memcpy(s->slab + (size_t)k * SLOT, PyBytes_AS_STRING(args[0]), (size_t)n);
    s->pend[k].addr = a;
    s->pend[k].len = (uint32_t)n;
    s->npend++;
    return PyBool_FromLong(sender_after_queue(s));
}

static PyMethodDef Sender_methods[] = {
    {"flush", (PyCFunction)Sender_flush, METH_NOARGS, "send everything queued (end of the loop turn)"},
    {"queue", (PyCFunction)(void (*)(void))Sender_queue, METH_FASTCALL,
     "queue(data, addr) -> True when flush() must be scheduled"},
    {NULL}};

static PyMemberDef Sender_members[] = {
    {"tx_packets", T_ULONGLONG, offsetof(Sender, tx_packets), READONLY, NULL},
    {"tx_bytes", T_ULONGLONG, offsetof(Sender, tx_bytes), READONLY, NULL},
    {"send_errors", T_ULONGLONG, offsetof(Sender, send_errors), READONLY, NULL},
    {"calls", T_ULONGLONG, offsetof(Sender, calls), READONLY, NULL},
    {"gso_calls", T_ULONGLONG, offsetof(Sender, gso_calls), READONLY, NULL},
    {"gso_packets", T_ULONGLONG, offsetof(Sender, gso_packets), READONLY, NULL},
    {"gso", T_INT, offsetof(Sender, gso), READONLY, NULL},
    {NULL}};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "relayroom.media.native._fanout.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sender_init,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_methods = Sender_methods,
    .tp_members = Sender_members,
    .tp_doc = "Sender(fd, gso=False): the worker's RTP send queue on its UDP socket, with its counters.",
};

/* ---------------------------------------------------------------- Target: one transport's way out */

typedef struct {
    double now;    /* the forward's `now` (WebRtcTransport.clock() on the Python path) */
    uint32_t size; /* the packet before stamping, as stamp_transport_cc records len(data) */
    uint32_t pad;
} SentRecord;

typedef struct {
    PyObject_HEAD
    Sender *sender;   /* strong */
    PyObject *keep;   /* the pylibsrtp Session that owns ctx (strong), or NULL */
    void *ctx;        /* srtp_t */
    struct sockaddr_in addr;
    int has_addr;
    unsigned long long tx_packets; /* protected and queued (WebRtcTransport.tx_packets) */
    /* transport-cc (decision 0034): while twcc_id != 0 every packet forwarded here gets the transport's
     * transport-wide sequence number twcc_next (then incremented), exactly as stamp_transport_cc /
     * with_transport_sequence do, and leaves a (send time, size) record that Python feeds to the
     * estimator (take_sent) before it stamps a packet itself or reads the estimator. */
    int twcc_id;
    unsigned long long twcc_next;
    SentRecord *sent;
    Py_ssize_t nsent, sent_cap;
} Target;

static int Target_init(Target *self, PyObject *args, PyObject *kw) {
    PyObject *sender;
    if (!PyArg_ParseTuple(args, "O!", &SenderType, &sender)) return -1;
    Py_INCREF(sender);
    Py_XSETREF(self->sender, (Sender *)sender);
    return 0;
}

static int Target_traverse(Target *self, visitproc visit, void *arg) {
    Py_VISIT(self->sender);
    Py_VISIT(self->keep);
    return 0;
}

static int Target_clear(Target *self) {
    Py_CLEAR(self->sender);
    Py_CLEAR(self->keep);
    self->ctx = NULL;
    return 0;
}

static void Target_dealloc(Target *self) {
    PyObject_GC_UnTrack(self);
    Target_clear(self);
    PyMem_Free(self->sent);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Target_set_srtp(Target *self, PyObject *args) {
    unsigned long long ctx;
    PyObject *keep;
    if (!PyArg_ParseTuple(args, "KO", &ctx, &keep)) return NULL;
    if (g_protect == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "srtp_protect not set (init)");
        return NULL;
    }
    if (ctx == 0) {
        PyErr_SetString(PyExc_ValueError, "null srtp context");
        return NULL;
    }
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    self->ctx = (void *)(uintptr_t)ctx;
    Py_RETURN_NONE;
}

static PyObject *Target_clear_srtp(Target *self, PyObject *unused) {
    self->ctx = NULL;
    Py_CLEAR(self->keep);
    Py_RETURN_NONE;
}

static PyObject *Target_set_addr(Target *self, PyObject *args) {
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port)) return NULL;
    struct sockaddr_in a;
    if (parse_addr(host, port, &a) < 0) return NULL;
    self->addr = a;
    self->has_addr = 1;
    Py_RETURN_NONE;
}

static PyObject *Target_clear_addr(Target *self, PyObject *unused) {
    self->has_addr = 0;
    Py_RETURN_NONE;
}

static PyObject *Target_ready(Target *self, void *closure) {
    return PyBool_FromLong(self->ctx != NULL && self->has_addr);
}

static PyObject *Target_set_twcc(Target *self, PyObject *args) {
    int ext_id;
    unsigned long long next;
    if (!PyArg_ParseTuple(args, "iK", &ext_id, &next)) return NULL;
    if (ext_id < 0 || ext_id > 14) {
        PyErr_SetString(PyExc_ValueError, "transport-cc extension id must be 0..14");
        return NULL;
    }
    self->twcc_id = ext_id;
    self->twcc_next = next;
    Py_RETURN_NONE;
}

/* the records of the packets stamped here since the last call, oldest first: bytes of "=dI4x" */
static PyObject *Target_take_sent(Target *self, PyObject *unused) {
    PyObject *r = PyBytes_FromStringAndSize((const char *)self->sent, self->nsent * (Py_ssize_t)sizeof(SentRecord));
    if (r != NULL) self->nsent = 0;
    return r;
}

static int record_sent(Target *t, double now, Py_ssize_t size) {
    if (t->nsent == t->sent_cap) {
        Py_ssize_t cap = t->sent_cap ? t->sent_cap * 2 : 256;
        SentRecord *r = PyMem_Realloc(t->sent, (size_t)cap * sizeof(SentRecord));
        if (r == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->sent = r;
        t->sent_cap = cap;
    }
    SentRecord *r = &t->sent[t->nsent++];
    r->now = now;
    r->size = (uint32_t)size;
    r->pad = 0;
    return 0;
}

/* offset of the value of one-byte header extension `id`, or -1 (twcc.py find_extension) */
static int find_extension(const unsigned char *d, int n, int id) {
    if (!(d[0] & 0x10)) return -1;
    int pos = 12 + 4 * (d[0] & 0x0F);
    if (n < pos + 4 || d[pos] != 0xBE || d[pos + 1] != 0xDE) return -1;
    int end = pos + 4 + 4 * ((d[pos + 2] << 8) | d[pos + 3]);
    if (end > n) return -1;
    int i = pos + 4;
    while (i < end) {
        int b = d[i];
        if (b == 0) {
            i++;
            continue;
        }
        int eid = b >> 4;
        if (eid == 15) return -1;
        int length = (b & 0x0F) + 1;
        if (eid == id) return i + 1 + length <= end ? i + 1 : -1;
        i += 1 + length;
    }
    return -1;
}

/* twcc.py with_transport_sequence on buf[0:len] (room for 8 more octets): the new length; a packet
 * whose extension block it cannot extend (ValueError there) stays as it is */
static int stamp_twcc(unsigned char *buf, int len, int id, uint16_t seq) {
    unsigned char hi = (unsigned char)(seq >> 8), lo = (unsigned char)seq;
    int pos = find_extension(buf, len, id);
    if (pos > 0 && (buf[pos - 1] & 0x0F) == 1) {
        buf[pos] = hi;
        buf[pos + 1] = lo;
        return len;
    }
    int start = 12 + 4 * (buf[0] & 0x0F);
    if (!(buf[0] & 0x10)) {
        if (start > len) start = len; /* as Python's slices of a short packet */
        memmove(buf + start + 8, buf + start, (size_t)(len - start));
        unsigned char block[8] = {0xBE, 0xDE, 0, 1, (unsigned char)((id << 4) | 1), hi, lo, 0};
        memcpy(buf + start, block, 8);
        buf[0] |= 0x10;
        return len + 8;
    }
    if (len < start + 4) return len;
    int words = (buf[start + 2] << 8) | buf[start + 3];
    int end = start + 4 + 4 * words;
    if (end > len || words >= 0xFFFF) return len;
    unsigned char el[4];
    if (buf[start] == 0xBE && buf[start + 1] == 0xDE) {
        el[0] = (unsigned char)((id << 4) | 1), el[1] = hi, el[2] = lo, el[3] = 0;
    } else if (buf[start] == 0x10 && (buf[start + 1] >> 4) == 0) {
        el[0] = (unsigned char)id, el[1] = 2, el[2] = hi, el[3] = lo;
    } else {
        return len;
    }
    words++;
    buf[start + 2] = (unsigned char)(words >> 8);
    buf[start + 3] = (unsigned char)words;
    memmove(buf + end + 4, buf + end, (size_t)(len - end));
    memcpy(buf + end, el, 4);
    return len + 4;
}

static PyMethodDef Target_methods[] = {
    {"set_twcc", (PyCFunction)Target_set_twcc, METH_VARARGS,
     "set_twcc(ext_id, next_seq): stamp transport-wide sequence numbers from next_seq on (0: off)"},
    {"take_sent", (PyCFunction)Target_take_sent, METH_NOARGS,
     "take_sent() -> bytes: (send time, size) records ('=dI4x') of the packets stamped since the last call"},
    {"set_srtp", (PyCFunction)Target_set_srtp, METH_VARARGS, "set_srtp(ctx_address, owner)"},
    {"clear_srtp", (PyCFunction)Target_clear_srtp, METH_NOARGS, NULL},
    {"set_addr", (PyCFunction)Target_set_addr, METH_VARARGS, "set_addr(host, port): IPv4 only"},
    {"clear_addr", (PyCFunction)Target_clear_addr, METH_NOARGS, NULL},
    {NULL}};

static PyMemberDef Target_members[] = {
    {"tx_packets", T_ULONGLONG, offsetof(Target, tx_packets), READONLY, NULL},
    {"twcc_next", T_ULONGLONG, offsetof(Target, twcc_next), 0, NULL},
    {NULL}};

static PyGetSetDef Target_getset[] = {{"ready", (getter)Target_ready, NULL, NULL, NULL}, {NULL}};

static PyTypeObject TargetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "relayroom.media.native._fanout.Target",
    .tp_basicsize = sizeof(Target),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Target_init,
    .tp_dealloc = (destructor)Target_dealloc,
    .tp_traverse = (traverseproc)Target_traverse,
    .tp_clear = (inquiry)Target_clear,
    .tp_methods = Target_methods,
    .tp_members = Target_members,
    .tp_getset = Target_getset,
    .tp_doc = "Target(sender): one transport's SRTP context and UDP tuple.",
};

/* ---------------------------------------------------------------- Entry: one consumer's rewrite */

typedef struct {
    PyObject_HEAD
    Target *target; /* strong, set by load */
    uint32_t ssrc;
    uint8_t pt;
    uint16_t seq_offset;
    uint32_t ts_offset;
    uint16_t sync_seq;
    uint16_t last_seq;
    uint32_t last_ts;
    double last_send_time;
    unsigned long long packets;
    unsigned long long octets;
} Entry;

static int Entry_traverse(Entry *self, visitproc visit, void *arg) {
    Py_VISIT(self->target);
    return 0;
}

static int Entry_clear(Entry *self) {
    Py_CLEAR(self->target);
    return 0;
}

static void Entry_dealloc(Entry *self) {
    PyObject_GC_UnTrack(self);
    Entry_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Entry_load(Entry *self, PyObject *args) {
    PyObject *target;
    unsigned int pt, ssrc, seq_offset, ts_offset, sync_seq, last_seq, last_ts;
    double last_send_time;
    unsigned long long packets, octets;
    if (!PyArg_ParseTuple(args, "O!IIIIIIIdKK", &TargetType, &target, &pt, &ssrc, &seq_offset, &ts_offset,
                          &sync_seq, &last_seq, &last_ts, &last_send_time, &packets, &octets))
        return NULL;
    if (pt > 127 || seq_offset > 0xFFFF || sync_seq > 0xFFFF || last_seq > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "field out of range");
        return NULL;
    }
    Py_INCREF(target);
    Py_XSETREF(self->target, (Target *)target);
    self->pt = (uint8_t)pt;
    self->ssrc = ssrc;
    self->seq_offset = (uint16_t)seq_offset;
    self->ts_offset = ts_offset;
    self->sync_seq = (uint16_t)sync_seq;
    self->last_seq = (uint16_t)last_seq;
    self->last_ts = last_ts;
    self->last_send_time = last_send_time;
    self->packets = packets;
    self->octets = octets;
    Py_RETURN_NONE;
}

static PyObject *Entry_state(Entry *self, PyObject *unused) {
    return Py_BuildValue("IIdKK", (unsigned int)self->last_seq, (unsigned int)self->last_ts,
                         self->last_send_time, self->packets, self->octets);
}

static PyMethodDef Entry_methods[] = {
    {"load", (PyCFunction)Entry_load, METH_VARARGS,
     "load(target, pt, ssrc, seq_offset, ts_offset, sync_seq, last_seq, last_ts, last_send_time, packets, "
     "octets)"},
    {"state", (PyCFunction)Entry_state, METH_NOARGS, "(last_seq, last_ts, last_send_time, packets, octets)"},
    {NULL}};

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "relayroom.media.native._fanout.Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Entry_dealloc,
    .tp_traverse = (traverseproc)Entry_traverse,
    .tp_clear = (inquiry)Entry_clear,
    .tp_methods = Entry_methods,
    .tp_doc = "Entry(): one consumer's rewrite state, loaded from Python.",
};

/* ---------------------------------------------------------------- FanOut: one producer's consumers */

typedef struct {
    PyObject_HEAD
    Entry **entries; /* strong refs */
    Py_ssize_t n, cap;
} FanOut;

static int FanOut_traverse(FanOut *self, visitproc visit, void *arg) {
    for (Py_ssize_t i = 0; i < self->n; i++) Py_VISIT(self->entries[i]);
    return 0;
}

static int FanOut_clear(FanOut *self) {
    Py_ssize_t n = self->n;
    self->n = 0;
    for (Py_ssize_t i = 0; i < n; i++) Py_CLEAR(self->entries[i]);
    return 0;
}

static void FanOut_dealloc(FanOut *self) {
    PyObject_GC_UnTrack(self);
    FanOut_clear(self);
    PyMem_Free(self->entries);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *FanOut_add(FanOut *self, PyObject *entry) {
    if (!PyObject_TypeCheck(entry, &EntryType)) {
        PyErr_SetString(PyExc_TypeError, "an Entry");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < self->n; i++)
        if ((PyObject *)self->entries[i] == entry) Py_RETURN_NONE;
    if (self->n == self->cap) {
        Py_ssize_t cap = self->cap ? self->cap * 2 : 16;
        Entry **e = PyMem_Realloc(self->entries, (size_t)cap * sizeof(Entry *));
        if (e == NULL) return PyErr_NoMemory();
        self->entries = e;
        self->cap = cap;
    }
    Py_INCREF(entry);
    self->entries[self->n++] = (Entry *)entry;
    Py_RETURN_NONE;
}

static PyObject *FanOut_remove(FanOut *self, PyObject *entry) {
    for (Py_ssize_t i = 0; i < self->n; i++) {
        if ((PyObject *)self->entries[i] == entry) {
            /* keep the order: outputs leave in the order consumers were armed */
            memmove(self->entries + i, self->entries + i + 1, (size_t)(self->n - i - 1) * sizeof(Entry *));
            self->n--;
            Py_DECREF(entry);
            break;
        }
    }
    Py_RETURN_NONE;
}

static Py_ssize_t FanOut_len(FanOut *self) { return self->n; }

/* forward(data, seq, ts, now, sender): every armed consumer of one input packet */
static PyObject *FanOut_forward(FanOut *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyBytes_Check(args[0]) || !PyObject_TypeCheck(args[4], &SenderType)) {
        PyErr_SetString(PyExc_TypeError, "forward(data: bytes, seq, ts, now, sender)");
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    unsigned long seq = PyLong_AsUnsignedLong(args[1]);
    unsigned long ts = PyLong_AsUnsignedLong(args[2]);
    double now = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred()) return NULL;
    Sender *s = (Sender *)args[4];
    int sendable = n >= 12 && n <= MAX_PACKET && g_protect != NULL;
    for (Py_ssize_t i = 0; i < self->n; i++) {
        Entry *e = self->entries[i];
        /* seq_diff(seq, sync_seq) < 0: a reordered packet from before the re-base point */
        if ((((unsigned long)seq - e->sync_seq) & 0xFFFF) >= 0x8000) continue;
        uint16_t out_seq = (uint16_t)((seq + e->seq_offset) & 0xFFFF);
        uint32_t out_ts = (uint32_t)((ts + e->ts_offset) & 0xFFFFFFFFu);
        uint16_t d = (uint16_t)(out_seq - e->last_seq);
        if (d != 0 && d < 0x8000) { /* seq_newer(out_seq, last_seq) */
            e->last_seq = out_seq;
            e->last_ts = out_ts;
            e->last_send_time = now;
        }
        e->packets++;
        e->octets += (unsigned long long)(n - 12);
        Target *t = e->target;
        if (t == NULL || t->ctx == NULL || !t->has_addr) continue;
        uint16_t tseq = 0;
        int twcc = t->twcc_id;
        if (twcc && n >= 12) { /* Python stamps (and counts) before protect refuses an oversized one */
            if (record_sent(t, now, n) < 0) return NULL;
            tseq = (uint16_t)(t->twcc_next++ & 0xFFFF);
        }
        if (!sendable) continue;
        int k = sender_slot(s);
        unsigned char *buf = s->slab + (size_t)k * SLOT;
        buf[0] = data[0];
        buf[1] = (unsigned char)((data[1] & 0x80) | e->pt);
        buf[2] = (unsigned char)(out_seq >> 8);
        buf[3] = (unsigned char)out_seq;
        buf[4] = (unsigned char)(out_ts >> 24);
        buf[5] = (unsigned char)(out_ts >> 16);
        buf[6] = (unsigned char)(out_ts >> 8);
        buf[7] = (unsigned char)out_ts;
        buf[8] = (unsigned char)(e->ssrc >> 24);
        buf[9] = (unsigned char)(e->ssrc >> 16);
        buf[10] = (unsigned char)(e->ssrc >> 8);
        buf[11] = (unsigned char)e->ssrc;
        memcpy(buf + 12, data + 12, (size_t)(n - 12));
        int len = (int)n;
        if (twcc) {
            len = stamp_twcc(buf, len, twcc, tseq);
            if (len > MAX_PACKET) continue; /* protect_rewritten's size check */
        }
        if (g_protect(t->ctx, buf, &len) != 0) continue;
        t->tx_packets++;
        s->tx_packets++;
        s->tx_bytes += (unsigned long long)len;
        s->pend[k].addr = t->addr;
        s->pend[k].len = (uint32_t)len;
        s->npend++;
    }
    return PyBool_FromLong(sender_after_queue(s));
}

static PyMethodDef FanOut_methods[] = {
    {"add", (PyCFunction)FanOut_add, METH_O, "arm an Entry (appended: outputs keep the arming order)"},
    {"remove", (PyCFunction)FanOut_remove, METH_O, "disarm an Entry"},
    {"forward", (PyCFunction)(void (*)(void))FanOut_forward, METH_FASTCALL,
     "forward(data, seq, ts, now, sender) -> True when sender.flush() must be scheduled"},
    {NULL}};

static PySequenceMethods FanOut_seq = {.sq_length = (lenfunc)FanOut_len};

static PyTypeObject FanOutType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "relayroom.media.native._fanout.FanOut",
    .tp_basicsize = sizeof(FanOut),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)FanOut_dealloc,
    .tp_traverse = (traverseproc)FanOut_traverse,
    .tp_clear = (inquiry)FanOut_clear,
    .tp_methods = FanOut_methods,
    .tp_as_sequence = &FanOut_seq,
    .tp_doc = "FanOut(): the armed consumers of one producer.",
};

/* ---------------------------------------------------------------- module */

static PyObject *mod_init(PyObject *m, PyObject *arg) {
    unsigned long long addr = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) return NULL;
    if (addr == 0) {
        PyErr_SetString(PyExc_ValueError, "null srtp_protect");
        return NULL;
    }
    g_protect = (srtp_protect_fn)(uintptr_t)addr;
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"init", mod_init, METH_O, "init(address of libsrtp's srtp_protect)"}, {NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_fanout", "Native fan-out (decision 0032).", -1,
                                    mod_methods};

PyMODINIT_FUNC PyInit__fanout(void) {
    PyTypeObject *types[] = {&SenderType, &TargetType, &EntryType, &FanOutType};
    const char *names[] = {"Sender", "Target", "Entry", "FanOut"};
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL) return NULL;
    for (int i = 0; i < 4; i++) {
        if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (PyModule_AddIntConstant(m, "MAX_PACKET", MAX_PACKET) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
