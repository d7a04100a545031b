/* The fixture's stand-in for the allocator core's side of lib/route.h
 * and the shim's of wrap/entries.h: the fixture links the analysis with a
 * recording allocator (record.c) instead of lgmalloc, so there is nothing
 * to route and no class entry to point a call site at. */
#include "../../lib/route.h"
#include "../../wrap/entries.h"

size_t lg_route_class_for(size_t size)
{
    (void)size;
    return LG_ROUTE_NONE;
}

size_t lg_route_add_exact(const size_t *sizes, size_t count)
{
    (void)sizes;
    (void)count;
    return 0;
}

int lg_route_exact_wanted(size_t size)
{
    (void)size;
    return 0;
}

void lg_route_set_sampler(lg_route_sampler_t sampler)
{
    (void)sampler;
}

void lg_route_set_heartbeat(lg_route_heartbeat_t heartbeat)
{
    (void)heartbeat;
}

void lg_route_set_lookup(lg_route_lookup_t lookup, size_t sites, size_t sites_sized)
{
    (void)lookup;
    (void)sites;
    (void)sites_sized;
}

lg_route_entry_t lg_route_entry(size_t cls)
{
    (void)cls;
    return NULL;
}

void lg_route_count_patched(size_t sites)
{
    (void)sites;
}

int lg_stats_enabled(void)
{
    return 0;
}
