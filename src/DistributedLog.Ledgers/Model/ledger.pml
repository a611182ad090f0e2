/*
 * ledger.pml: a SPIN model of the replication protocol of DistributedLog.Ledgers, as the C# code implements it:
 * ledger writes with the LAC piggyback, ensemble change through a compare-and-set on the ledger metadata, fencing,
 * and recovery, with one writer and one recovering client racing, E = Qw = 3, Qa = 2, four bookies (so there is a
 * spare for an ensemble change), bookie crashes and restarts, and message loss and reordering.
 *
 * Map from the model to the code (src/DistributedLog.Ledgers):
 *   proctype Writer    LedgerHandle: AddEntryAsync (add), OnAddComplete (ack, fenced), DrainLocked (confirm, LAC),
 *                      OnBookieFailed + ChangeEnsembleAsync (timeout, change), CloseAsync (close).
 *   proctype Recovery  LedgerClient.Recovery: RecoverOnceAsync (Open -> InRecovery -> Closed by CAS), FenceAsync
 *                      (fence the last ensemble until quorum coverage, LAC = max piggyback), RecoveryReadAsync
 *                      (fencing reads; absent after Qw - Qa + 1 "no such entry"), RecoveryAddAsync (recovery adds to Qa).
 *   proctype Bookies   the bookie servers (DistributedLog.Bookie: Bookie.AddEntry refuses normal adds once fenced; a
 *                      fence is journaled before it is answered, so it survives a crash) and their crashes.
 *   (a reader)         LedgerReader opened without recovery learns the LAC from any bookie (ReadLac, piggyback) at any
 *                      time: folded into an invariant on every bookie's LAC (blac) instead of a process of its own.
 *   md_*, seg_*        the ledger metadata (LedgerMetadata in MetadataLedgerStore): version, state, last entry, and
 *                      the ensemble segments (EnsembleSegment), changed only by compare-and-set on md_ver.
 *
 * The network: the writer's adds sit in a set per bookie until the bookie takes them (oldest first per connection, in
 * any order relative to other bookies and to the recovering client), or never (lost; a crash drops them). The writer
 * may time a replica out at any moment: a slow bookie is indistinguishable from a dead one. The recovering client's
 * fences, fencing reads and recovery adds are answered in the step the bookie handles them, or never.
 *
 * Properties (assertions):
 *   - no acknowledged entry is lost: when the ledger is closed, every entry up to its last entry id is stored on at
 *     least Qa bookies of the ensemble the metadata gives for it;
 *   - the closed last entry id is >= every entry acknowledged to the writer's caller (before or after the close);
 *   - a tailing reader never learns a LAC beyond the closed last entry id (it never sees an entry that is then lost).
 *
 * Seeded bugs (each must make SPIN report an assertion violation):
 *   -DBUG_RECOVERY_READS_TOO_FEW    recovery concludes an entry is absent after one "no such entry" (< Qw - Qa + 1);
 *   -DBUG_FENCE_NOT_DURABLE         a bookie forgets the fence when it crashes;
 *   -DBUG_ENSEMBLE_CHANGE_NO_WAIT   the writer uses the new ensemble (counts its acks, confirms entries) before the
 *                                   metadata compare-and-set succeeded, instead of waiting for it.
 *
 * Bounds: -DMAXE=n entries (default 2, at most 4), -DMAXCHG=n ensemble changes (default 1), -DMAXCRASH=n crashes
 * (default 1). Run: spin -a ledger.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan -E (see README.md).
 */

#define NB 4            /* bookies 0..3; the first ensemble is 0,1,2 */
#define E 3             /* ensemble size */
#define QW 3            /* write quorum: every entry goes to the whole ensemble */
#define QA 2            /* ack quorum */

#ifndef MAXE
#define MAXE 2
#endif
#ifndef MAXCHG
#define MAXCHG 1
#endif
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#define MAXSEG (MAXCHG + 1)

#define OPEN 0
#define INRECOVERY 1
#define CLOSED 2

#define BIT(i) (1 << (i))
#define POP(m) (((m) & 1) + (((m) >> 1) & 1) + (((m) >> 2) & 1) + (((m) >> 3) & 1))
#define MAX(x, y) ((x) > (y) -> (x) : (y))

/* b := a bookie of mask w (blocks if none). */
#define PICK_IN(w, b) \
    if \
    :: ((w) & 1) -> b = 0 \
    :: ((w) & 2) -> b = 1 \
    :: ((w) & 4) -> b = 2 \
    :: ((w) & 8) -> b = 3 \
    fi

/* Ledger metadata (compare-and-set on md_ver). */
byte md_ver = 0;
byte md_state = OPEN;
short md_last = -1;
byte nseg = 1;
byte seg_first[MAXSEG];
byte seg_ens[MAXSEG * E];       /* position p of segment k at k * E + p */

/* Bookies: durable state. */
byte has[NB];                   /* entries stored (bit per entry id) */
bool fenced[NB];
short blac[NB];                 /* highest LAC piggybacked on an entry it stored */
byte crashes = 0;

/* The writer's adds in flight (bit per entry): taken by the bookie in any order relative to everything else (other
 * bookies, the recovering client), oldest first per bookie (one TCP connection), or never (lost). The bookie's answer
 * reaches the writer in the same step: an answer that is late is modeled by its request being late, which allows
 * every outcome a late answer allows (the writer only ever knows less). */
byte addq[NB];

/* Writer state the answers update (LedgerHandle fields). */
byte tgt[4];                    /* per entry: the bookies its replicas are addressed to (AddTarget) */
byte ackset[4];                 /* per entry: which of them acknowledged (AckedMask) */
bool dead = false;              /* _error set: fenced, recovered by someone else */

/* Entries and observers. */
short pb[4];                    /* LAC piggybacked in entry e: fixed when the writer packages it */
short acked = -1;               /* highest entry acknowledged to the writer's caller */

/* Scratch variables, only used within one atomic step: hidden, so they are not part of the state. */
hidden byte b, e, r, p, m, k, i;
hidden byte cens[E];
hidden short first;

/* cens[p] := position p of the ensemble that holds entry e (LedgerMetadata.EnsembleAt). */
inline ensemble_at(e) {
    k = 0;
    do
    :: k + 1 < nseg && seg_first[k + 1] <= e -> k++
    :: else -> break
    od;
    cens[0] = seg_ens[k * E]; cens[1] = seg_ens[k * E + 1]; cens[2] = seg_ens[k * E + 2]
}

/* m := the writer's current ensemble as a bit mask. */
inline ensemble_mask(m) {
    m = BIT(ens[0]) | BIT(ens[1]) | BIT(ens[2])
}

/* Nondeterministically picks a bookie b whose slot in arr is set (blocks if none). */
#define PICK_BOOKIE(arr, b) \
    if \
    :: arr[0] != 0 -> b = 0 \
    :: arr[1] != 0 -> b = 1 \
    :: arr[2] != 0 -> b = 2 \
    :: arr[3] != 0 -> b = 3 \
    fi

/* e := the oldest entry in m: a connection delivers in order (TCP), so a bookie and the writer take the lowest first. */
inline oldest_entry(m, e) {
    if
    :: (m) & 1 -> e = 0
    :: ((m) & 3) == 2 -> e = 1
    :: ((m) & 7) == 4 -> e = 2
    :: ((m) & 15) == 8 -> e = 3
    fi
}

/* The checks made whenever the ledger becomes closed at `last`. */
inline check_closed(last) {
    assert(acked <= last);      /* the recovered last entry id covers every acknowledged entry */
    /* a reader never learns a LAC beyond what survives (any bookie may answer its ReadLac) */
    assert(blac[0] <= last && blac[1] <= last && blac[2] <= last && blac[3] <= last);
    i = 0;
    do
    :: i <= last ->
        ensemble_at(i);
        /* no entry up to the last one is lost: Qa replicas on the ensemble the metadata names for it */
        assert(((has[cens[0]] >> i) & 1) + ((has[cens[1]] >> i) & 1) + ((has[cens[2]] >> i) & 1) >= QA);
        i++
    :: else -> break
    od
}

proctype Writer() {
    byte ens[E];
    short lap = -1;             /* _lastAddPushed */
    short lac = -1;             /* _lastAddConfirmed */
    byte wver = 0;              /* _metadataVersion */
    bool changing = false;      /* _changingEnsemble */
    byte failedb = 0;
    byte changes = 0;
    bool closing = false;
    bool closed = false;
    bool cas_pending = false;   /* only with BUG_ENSEMBLE_CHANGE_NO_WAIT: switched, metadata not yet written */
#ifdef BUG_ENSEMBLE_CHANGE_NO_WAIT
    short pfirst;               /* the first entry of the segment still to be written */
#endif

    ens[0] = 0; ens[1] = 1; ens[2] = 2;
    do
    /* AddEntryAsync: next entry id, packaged with the current LAC, sent to the whole write set. */
    :: atomic {
        !dead && !closing && lap + 1 < MAXE ->
        lap++;
        pb[lap] = lac;
        ensemble_mask(m);
        tgt[lap] = m;
        ackset[lap] = 0;
        addq[ens[0]] = addq[ens[0]] | BIT(lap);
        addq[ens[1]] = addq[ens[1]] | BIT(lap);
        addq[ens[2]] = addq[ens[2]] | BIT(lap)
       }
    /* DrainLocked: the head entry has Qa acks and no ensemble change is in progress: it is acknowledged. */
    :: atomic {
        !dead && !changing && lac < lap && POP(ackset[lac + 1]) >= QA ->
        lac++;
        acked = lac;
        assert(md_state != CLOSED || lac <= md_last)
       }
    /* A replica times out (or its bookie answers an error): OnBookieFailed. */
    :: atomic {
        !dead && !changing && changes < MAXCHG && lac < lap && !cas_pending ->
        /* a bookie of the ensemble that some pending entry still waits for */
        m = 0;
        e = lac + 1;
        do
        :: e <= lap -> m = m | (tgt[e] & ~ackset[e]); e++
        :: else -> break
        od;
        if
        :: (m >> ens[0]) & 1 -> failedb = ens[0]
        :: (m >> ens[1]) & 1 -> failedb = ens[1]
        :: (m >> ens[2]) & 1 -> failedb = ens[2]
        fi;
        changing = true
       }
#ifndef BUG_ENSEMBLE_CHANGE_NO_WAIT
    /* ChangeEnsembleAsync: CAS a new segment from LAC + 1 with a replacement, then switch and re-send pending entries. */
    :: atomic {
        !dead && changing ->
        if
        :: md_ver == wver ->
            /* the replacement: the bookie outside the ensemble (never the one that just failed) */
            ensemble_mask(m);
            r = 0;
            do
            :: (m >> r) & 1 -> r++
            :: else -> break
            od;
            first = lac + 1;
            if
            :: seg_first[nseg - 1] == first -> nseg--
            :: else -> skip
            fi;
            p = 0;
            do
            :: p < E -> seg_ens[nseg * E + p] = (ens[p] == failedb -> r : ens[p]); p++
            :: else -> break
            od;
            seg_first[nseg] = first;
            nseg++;
            md_ver++;
            wver = md_ver;
            p = 0;
            do
            :: p < E -> ens[p] = (ens[p] == failedb -> r : ens[p]); p++
            :: else -> break
            od;
            e = lac + 1;
            do
            :: e <= lap ->
                if
                :: (tgt[e] >> failedb) & 1 ->
                    tgt[e] = (tgt[e] & ~BIT(failedb)) | BIT(r);
                    ackset[e] = ackset[e] & ~BIT(failedb);
                    addq[r] = addq[r] | BIT(e)
                :: else -> skip
                fi;
                e++
            :: else -> break
            od;
            changes++;
            changing = false
        :: else ->
            /* version conflict: re-read; a ledger that is no longer open was recovered by someone else */
            if
            :: md_state != OPEN -> dead = true; changing = false
            :: else -> wver = md_ver
            fi
        fi
       }
#else
    /* The seeded bug: switch to the replacement at once (its acks count, completions resume), CAS afterwards. */
    :: atomic {
        !dead && changing ->
        ensemble_mask(m);
        r = 0;
        do
        :: (m >> r) & 1 -> r++
        :: else -> break
        od;
        p = 0;
        do
        :: p < E -> ens[p] = (ens[p] == failedb -> r : ens[p]); p++
        :: else -> break
        od;
        first = lac + 1;
        e = lac + 1;
        do
        :: e <= lap ->
            if
            :: (tgt[e] >> failedb) & 1 ->
                tgt[e] = (tgt[e] & ~BIT(failedb)) | BIT(r);
                ackset[e] = ackset[e] & ~BIT(failedb);
                addq[r] = addq[r] | BIT(e)
            :: else -> skip
            fi;
            e++
        :: else -> break
        od;
        changes++;
        changing = false;
        pfirst = first;
        cas_pending = true
       }
    :: atomic {
        !dead && cas_pending ->
        if
        :: md_ver == wver ->
            if
            :: seg_first[nseg - 1] == pfirst -> nseg--
            :: else -> skip
            fi;
            seg_ens[nseg * E] = ens[0]; seg_ens[nseg * E + 1] = ens[1]; seg_ens[nseg * E + 2] = ens[2];
            seg_first[nseg] = pfirst;
            nseg++;
            md_ver++;
            wver = md_ver;
            cas_pending = false
        :: else ->
            if
            :: md_state != OPEN -> dead = true; cas_pending = false
            :: else -> wver = md_ver
            fi
        fi
       }
#endif
    /* CloseAsync: stop adding; once drained, CAS Closed at the LAC. */
    :: atomic { !dead && !closing -> closing = true }
    :: atomic {
        !dead && closing && !closed && !changing && lac == lap && !cas_pending ->
        if
        :: md_ver == wver ->
            md_state = CLOSED;
            md_last = lac;
            md_ver++;
            wver = md_ver;
            closed = true;
            check_closed(lac)
        :: else ->
            if
            :: md_state == CLOSED && md_last == lac -> closed = true
            :: md_state != OPEN && !(md_state == CLOSED && md_last == lac) -> dead = true
            :: md_state == OPEN -> wver = md_ver
            fi
        fi
       }
    :: dead || closed -> break
    od
}

proctype Bookies() {
    do
    /* a normal add: refused once fenced; else stored (durably) and acknowledged */
    :: atomic {
        PICK_BOOKIE(addq, b);
        oldest_entry(addq[b], e);
        addq[b] = addq[b] & ~BIT(e);
        if
        :: fenced[b] -> dead = true     /* OnAddComplete, LedgerFenced: the writer fails */
        :: else ->
            has[b] = has[b] | BIT(e);
            blac[b] = MAX(blac[b], pb[e]);
            assert(md_state != CLOSED || blac[b] <= md_last);
            /* OnAddComplete, success: counts only if the reply is from the replica's current target */
            if
            :: !dead && ((tgt[e] >> b) & 1) -> ackset[e] = ackset[e] | BIT(b)
            :: else -> skip
            fi
        fi
       }
    /* a crash and restart: the requests in its sockets are gone; what it stored (entries, fence) is durable. (While
     * it is down it takes no message, which the network model already allows: a crash adds only the loss of what
     * was in flight, and, with the seeded bug, of the fence.) */
    :: atomic {
        crashes < MAXCRASH ->
        if
        :: b = 0
        :: b = 1
        :: b = 2
        :: b = 3
        fi;
        crashes++;
        addq[b] = 0;
#ifdef BUG_FENCE_NOT_DURABLE
        fenced[b] = false;
#endif
        b = 0
       }
    od
}

/* The recovering client's requests are answered in the same step as the bookie handles them (a request may also
 * never be answered): its requests go to bookies that are up, and what it learns is what they held at that moment. */
proctype Recovery() {
    byte rver, rstate, known, answered, absent, acks, wset;
    short lac, last, re;
    bool found;

start:
    /* RecoverOnceAsync: read the metadata; Open -> InRecovery by compare-and-set */
    atomic { rver = md_ver; rstate = md_state };
    if
    :: rstate == CLOSED -> goto done
    :: rstate == OPEN ->
        atomic {
            if
            :: md_ver == rver -> md_state = INRECOVERY; md_ver++; rver = md_ver
            :: else -> goto start
            fi
        }
    :: rstate == INRECOVERY -> skip
    fi;

    /* FenceAsync: fence the last ensemble until quorum coverage (fewer than Qa unknown in every write set); the LAC
     * is the highest one the fenced bookies report */
    atomic {
        k = nseg - 1;
        wset = BIT(seg_ens[k * E]) | BIT(seg_ens[k * E + 1]) | BIT(seg_ens[k * E + 2]);
        known = 0;
        lac = -1
    };
    do
    :: atomic {
        PICK_IN(wset & ~known, b);
        fenced[b] = true;
        known = known | BIT(b);
        lac = MAX(lac, blac[b])
       }
    :: E - POP(known) < QA -> break
    od;

    /* read forward from LAC + 1 with fencing reads (RecoveryReadAsync); re-replicate what is found with recovery adds
     * to an ack quorum (RecoveryAddAsync) */
    last = lac;
    do
    :: atomic {
        re = last + 1;
        ensemble_at(re);
        wset = BIT(cens[0]) | BIT(cens[1]) | BIT(cens[2]);
        answered = 0;
        absent = 0;
        found = false
       };
        do
        :: atomic {
            PICK_IN(wset & ~answered, b);
            fenced[b] = true;
            answered = answered | BIT(b);
            if
            :: (has[b] >> re) & 1 -> found = true
            :: else -> absent++
            fi
           }
        :: found -> break
#ifndef BUG_RECOVERY_READS_TOO_FEW
        :: absent >= QW - QA + 1 -> break
#else
        :: absent >= 1 -> break
#endif
        od;
        if
        :: found ->
            acks = 0;
            do
            :: atomic {
                PICK_IN(wset & ~acks, b);
                has[b] = has[b] | BIT(re);
                blac[b] = MAX(blac[b], pb[re]);
                assert(md_state != CLOSED || blac[b] <= md_last);
                acks = acks | BIT(b)
               }
            :: POP(acks) >= QA -> break
            od;
            last = re
        :: else -> break
        fi
    od;

    /* CAS Closed at the last entry found; on a conflict look again */
    atomic {
        if
        :: md_ver == rver ->
            md_state = CLOSED;
            md_last = last;
            md_ver++;
            check_closed(last)
        :: else -> goto start
        fi
    };
done:
    skip
}

init {
    atomic {
        for (b : 0 .. NB - 1) {
            blac[b] = -1
        }
        seg_first[0] = 0;
        seg_ens[0] = 0; seg_ens[1] = 1; seg_ens[2] = 2;
        run Bookies();
        run Writer();
        run Recovery()
    }
}
