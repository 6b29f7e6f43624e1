import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './redis-connection.ts';

/** What a channel's subscriber tells its owner. */
export interface ChannelEvents {
  /** The connection closed or is reconnecting: messages may be missed from now on. */
  readonly down: () => void;
  /** After a reconnect, the subscription is confirmed again on this subscriber. */
  readonly up: (subscriber: RedisClient) => void;
  readonly message: (text: string) => void;
}

/**
 * A connection of its own subscribed to one channel (a subscribed Redis connection can do
 * nothing else). Pub/sub delivers at most once and not while disconnected, so the owner hears
 * `down` whenever messages may be missed and `up` once a resubscription is confirmed
 * (subscribing again is harmless if ioredis already did). `subscribed` settles with the first
 * subscription.
 */
export function openSubscriber(
  connection: RedisClient,
  channel: string,
  events: ChannelEvents,
): { readonly subscriber: RedisClient; readonly subscribed: Promise<unknown> } {
  const subscriber: RedisClient = connection.isCluster
    ? (connection as Cluster).duplicate()
    : (connection as Redis).duplicate();
  // Errors surface as close/reconnecting, which `down` reports; unhandled they would crash.
  subscriber.on('error', () => {});
  subscriber.on('close', events.down);
  subscriber.on('reconnecting', events.down);
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        if (subscriber.status === 'ready') events.up(subscriber);
      },
      () => {},
    );
  });
  subscriber.on('message', (_channel: string, text: string) => events.message(text));
  return { subscriber, subscribed: subscriber.subscribe(channel) };
}
