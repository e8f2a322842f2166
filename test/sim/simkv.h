/* kvd on the simulated nodes: lib/kv as every node's state machine (through kvd's own adapter,
 * daemons/kvd/machine.h) and kvd's client service rules (daemons/kvd/service.c) on the generic
 * simulated service (simsvc.h): a kv.Op Get is a read (ReadIndex, or through the log), a
 * Put/Append a write; errors are kv.Replys (WRONG_LEADER with the hint, NO_SPACE). */
#ifndef SIM_SIMKV_H
#define SIM_SIMKV_H

#include "kv/kv.h"
#include "simsvc.h"

struct simkv;

/* The servers' state; kv_bugs: passed to every lib/kv made (kv_set_planted_bug). Set
 * sim_opts.machine = simsvc_machine() and machine_arg = simkv_svc(k) before sim_new, then
 * simsvc_attach it. */
struct simkv *simkv_new(int kv_bugs);
struct simsvc *simkv_svc(struct simkv *k);
/* Free after sim_free (which destroys the machines). */
void simkv_free(struct simkv *k);

/* Node i's state machine (NULL while crashed). */
struct kv *simkv_kv(struct simkv *k, size_t i);

#endif
