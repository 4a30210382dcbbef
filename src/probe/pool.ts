/**
 * probeConnection = reuse: one idle keep-alive connection kept per peer between
 * probes. A connection the peer closes while idle is forgotten at once, so the
 * next probe of that peer connects afresh.
 */
import type { Socket } from 'node:net';

export class IdleConnections {
  private readonly idle = new Map<string, Socket>();
  private readonly watchers = new Map<Socket, () => void>();

  /** The idle connection to `peer`, now busy, if there is a live one. */
  take(peer: string): Socket | undefined {
    const s = this.idle.get(peer);
    if (!s) return undefined;
    this.idle.delete(peer);
    const forget = this.watchers.get(s);
    this.watchers.delete(s);
    if (forget) for (const e of ['close', 'error', 'end', 'data']) s.off(e, forget);
    if (s.destroyed || !s.writable || s.readableEnded) {
      s.destroy();
      return undefined;
    }
    return s;
  }

  /** Keeps `socket` (a finished exchange, nothing unread) for the next probe of `peer`. */
  give(peer: string, socket: Socket): void {
    this.idle.get(peer)?.destroy();
    this.idle.set(peer, socket);
    const forget = (): void => {
      if (this.idle.get(peer) === socket) this.idle.delete(peer);
      this.watchers.delete(socket);
      socket.destroy();
    };
    this.watchers.set(socket, forget);
    socket.on('close', forget);
    socket.on('error', forget);
    socket.on('end', forget);
    // bytes while idle: not an answer to anything we asked, so the connection is not usable
    socket.on('data', forget);
  }

  /** Peers with an idle connection kept. */
  peers(): string[] {
    return [...this.idle.keys()];
  }

  /** Drops the connections of peers not in `keep` (gone from DNS or out of the sample). */
  retain(keep: Set<string>): void {
    for (const [peer, s] of this.idle) {
      if (!keep.has(peer)) {
        this.idle.delete(peer);
        this.watchers.delete(s);
        s.destroy();
      }
    }
  }

  closeAll(): void {
    for (const s of this.idle.values()) s.destroy();
    this.idle.clear();
    this.watchers.clear();
  }
}
