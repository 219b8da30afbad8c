/* rvpp's C shim over DPDK's static-inline functions (see shim.h). */
#include <stddef.h>
#include <string.h>
#include <errno.h>
#include <rte_eal.h>
#include <rte_mempool.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "shim.h"

int rvpp_dpdk_errno(void) { return rte_errno; }

unsigned int rvpp_dpdk_lcore_id(void) { return rte_lcore_id(); }

uint16_t rvpp_dpdk_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t rvpp_dpdk_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

int rvpp_dpdk_mbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void rvpp_dpdk_mbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void rvpp_dpdk_mbuf_layout(struct rvpp_dpdk_mbuf_layout *out)
{
	out->buf_addr = offsetof(struct rte_mbuf, buf_addr);
	out->data_off = offsetof(struct rte_mbuf, data_off);
	out->nb_segs = offsetof(struct rte_mbuf, nb_segs);
	out->pkt_len = offsetof(struct rte_mbuf, pkt_len);
	out->data_len = offsetof(struct rte_mbuf, data_len);
	out->buf_len = offsetof(struct rte_mbuf, buf_len);
	out->next = offsetof(struct rte_mbuf, next);
	out->size = sizeof(struct rte_mbuf);
	out->ol_flags = offsetof(struct rte_mbuf, ol_flags);
	out->port = offsetof(struct rte_mbuf, port);
	out->objhdr_size = sizeof(struct rte_mempool_objhdr);
}

/* The "rvpp_arena" mempool ops: the pool's data is the rvpp_dpdk_zc. */

static int zc_alloc(struct rte_mempool *mp)
{
	mp->pool_data = mp->pool_config;
	return mp->pool_data ? 0 : -EINVAL;
}

static void zc_free(struct rte_mempool *mp) { (void)mp; }

static int zc_enqueue(struct rte_mempool *mp, void *const *objs, unsigned int n)
{
	struct rvpp_dpdk_zc *zc = mp->pool_data;
	if (!zc->populating)
		zc->put(zc->ctx, objs, n);
	return 0;
}

static int zc_dequeue(struct rte_mempool *mp, void **objs, unsigned int n)
{
	struct rvpp_dpdk_zc *zc = mp->pool_data;
	return zc->get(zc->ctx, objs, n);
}

static unsigned int zc_get_count(const struct rte_mempool *mp)
{
	const struct rvpp_dpdk_zc *zc = mp->pool_data;
	return zc->avail(zc->ctx);
}

/* Places object i at buffer i's mbuf, whatever the mempool's own object
 * size would have said. */
static int zc_populate(struct rte_mempool *mp, unsigned int max_objs, void *vaddr, rte_iova_t iova, size_t len,
		       rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg)
{
	struct rvpp_dpdk_zc *zc = mp->pool_data;
	char *lo = vaddr, *hi = (char *)vaddr + len;
	size_t need = sizeof(struct rte_mbuf) + zc->priv_size + zc->data_room;
	unsigned int n = 0;
	zc->populating = 1;
	for (uint32_t i = 0; i < zc->count && n < max_objs; i++) {
		char *obj = (char *)zc->mbuf0 + (uint64_t)i * zc->stride;
		if (obj - sizeof(struct rte_mempool_objhdr) < lo || obj + need > hi)
			break;
		obj_cb(mp, obj_cb_arg, obj, iova == RTE_BAD_IOVA ? RTE_BAD_IOVA : iova + (rte_iova_t)(obj - lo));
		n++;
	}
	zc->populating = 0;
	return (int)n;
}

static struct rte_mempool_ops zc_ops = {
	.name = "rvpp_arena",
	.alloc = zc_alloc,
	.free = zc_free,
	.enqueue = zc_enqueue,
	.dequeue = zc_dequeue,
	.get_count = zc_get_count,
	.populate = zc_populate,
};

/* An mbuf header over rvpp's buffer: the rte_mbuf itself is cleared, its
 * private area (rvpp's metadata) is left alone. */
static void zc_mbuf_init(struct rte_mempool *mp, void *arg, void *obj, unsigned int i)
{
	struct rvpp_dpdk_zc *zc = arg;
	struct rte_mbuf *m = obj;
	uint32_t hdr = sizeof(struct rte_mbuf) + zc->priv_size;
	rte_iova_t iova = rte_mempool_virt2iova(m);
	(void)i;
	memset(m, 0, sizeof(*m));
	m->priv_size = zc->priv_size;
	m->buf_addr = (char *)m + hdr;
	rte_mbuf_iova_set(m, iova == RTE_BAD_IOVA ? RTE_BAD_IOVA : iova + hdr);
	m->buf_len = zc->data_room;
	m->data_off = RTE_MIN(RTE_PKTMBUF_HEADROOM, zc->data_room);
	m->pool = mp;
	m->nb_segs = 1;
	m->port = RTE_MBUF_PORT_INVALID;
	rte_mbuf_refcnt_set(m, 1);
	m->next = NULL;
}

struct rte_mempool *rvpp_dpdk_zc_pool_create(const char *name, struct rvpp_dpdk_zc *zc, unsigned int cache, int socket)
{
	static int registered;
	struct rte_pktmbuf_pool_private priv;
	struct rte_mempool *mp;
	rte_iova_t iova;
	int r;
	if (!registered) {
		r = rte_mempool_register_ops(&zc_ops);
		if (r < 0) {
			rte_errno = -r;
			return NULL;
		}
		registered = 1;
	}
	mp = rte_mempool_create_empty(name, zc->count, sizeof(struct rte_mbuf) + zc->priv_size + zc->data_room, cache,
				      sizeof(struct rte_pktmbuf_pool_private), socket, 0);
	if (mp == NULL)
		return NULL;
	r = rte_mempool_set_ops_byname(mp, "rvpp_arena", zc);
	if (r != 0)
		goto fail;
	memset(&priv, 0, sizeof(priv));
	priv.mbuf_data_room_size = zc->data_room;
	priv.mbuf_priv_size = zc->priv_size;
	rte_pktmbuf_pool_init(mp, &priv);
	/* With IOVA as VA an address is its own IOVA; otherwise the arena
	 * (mapped by rvpp, not by the EAL) has none. */
	iova = rte_eal_iova_mode() == RTE_IOVA_VA ? (rte_iova_t)(uintptr_t)zc->map_start : RTE_BAD_IOVA;
	r = rte_mempool_populate_iova(mp, zc->map_start, iova, zc->map_len, NULL, NULL);
	if (r < 0)
		goto fail;
	if ((uint32_t)r != zc->count) {
		r = -ENOSPC;
		goto fail;
	}
	rte_mempool_obj_iter(mp, zc_mbuf_init, zc);
	return mp;
fail:
	rte_mempool_free(mp);
	rte_errno = -r;
	return NULL;
}
