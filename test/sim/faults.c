/* The randomized modes' fault schedule (faults.h). */
#include "faults.h"

void sim_faults_step(struct sim *s, struct simnet *net, struct simnet_ep *const *eps,
                     size_t n_eps, struct sim_faults_stats *st)
{
    size_t n = sim_n(s);
    uint64_t a = sim_rand(s, 100);
    if (a < 20) {
        int group[SIM_MAX_NODES];
        int groups = 2 + (int)sim_rand(s, 2);
        for (size_t i = 0; i < n; i++)
            group[i] = (int)sim_rand(s, (uint64_t)groups);
        sim_partition(s, group);
        st->partitions++;
    } else if (a < 32) {
        for (size_t i = 0; i < n; i++)
            sim_connect(s, i);
    } else if (a < 47) {
        sim_crash(s, sim_rand(s, n));
        st->crashes++;
    } else if (a < 67) {
        size_t i = sim_rand(s, n);
        if (!sim_is_alive(s, i))
            sim_restart(s, i);
    } else if (a < 77) {
        bool on = sim_rand(s, 2);
        sim_set_unreliable(s, on);
        simnet_set_unreliable(net, on);
    } else if (a < 85) {
        bool on = sim_rand(s, 2);
        sim_set_duplicates(s, on);
        simnet_set_duplicates(net, on);
    } else if (a < 90) {
        bool on = sim_rand(s, 3) == 0;
        sim_set_long_reordering(s, on);
        simnet_set_long_reordering(net, on);
    } else if (a < 94) {
        /* a clerk loses or regains its links to some servers (the lab's ConnectClient) */
        if (n_eps) {
            struct simnet_ep *ep = eps[sim_rand(s, n_eps)];
            simnet_ep_connect(ep, sim_rand(s, 3) == 0 ? UINT32_MAX
                                                       : (uint32_t)sim_rand(s, 1u << n));
        }
    } else {
        /* cut the leader off long enough for the others to elect a new one */
        for (size_t i = 0; i < n; i++) {
            uint64_t term;
            if (sim_get_state(s, i, &term)) {
                sim_disconnect(s, i);
                break;
            }
        }
    }
}

void sim_faults_heal(struct sim *s, struct simnet *net, struct simnet_ep *const *eps,
                     size_t n_eps)
{
    sim_set_unreliable(s, false);
    simnet_set_unreliable(net, false);
    sim_set_duplicates(s, false);
    simnet_set_duplicates(net, false);
    sim_set_long_reordering(s, false);
    simnet_set_long_reordering(net, false);
    for (size_t c = 0; c < n_eps; c++)
        simnet_ep_connect(eps[c], UINT32_MAX);
    for (size_t i = 0; i < sim_n(s); i++) {
        if (!sim_is_alive(s, i))
            sim_restart(s, i);
        sim_connect(s, i);
    }
}
