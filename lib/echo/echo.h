/* The echo service (proto/echo.proto): the smallest real service on lib/rpc, used by the RPC
 * tests and by rpcbench.
 *   echo.Echo  (echo.Request -> echo.Reply): returns data, at once, after delay_ms, or never
 *   echo.Note  (ONEWAY, any payload): counted
 *   echo.Count (empty -> echo.Count): how many echo.Note messages arrived */
#ifndef ECHO_ECHO_H
#define ECHO_ECHO_H

struct event_base;
struct rpc_server;
struct echo_service;

/* Registers the methods on srv. The service must be freed before the server. */
struct echo_service *echo_service_new(struct event_base *base, struct rpc_server *srv);

/* Answers every call it still holds (delayed or "never") with SHUTTING_DOWN, then frees. */
void echo_service_free(struct echo_service *e);

#endif
