// A TCP proxy that drops connections mid-response, for resumption tests.
//
//   const proxy = await cuttingProxy(srv.baseURL, 900);          // cut the first connection
//   const proxy = await cuttingProxy(srv.baseURL, 600, Infinity); // cut every connection
//   fetch(`${proxy.url}/...`); proxy.stats.connections; await proxy.close();
import net from 'node:net';

/**
 * Forwards TCP connections to target, except that it cuts each of the first
 * `cuts` connections after `cutAfter` bytes of response (mid-event, most
 * likely), or right after the response headers when cutAfter is 'headers'.
 */
export async function cuttingProxy(target, cutAfter, cuts = 1) {
  const { hostname, port } = new URL(target);
  const stats = { connections: 0, cuts: 0, get cut() { return this.cuts > 0; } };
  const sockets = new Set();
  const server = net.createServer((client) => {
    const cutting = stats.connections++ < cuts;
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    let seen = Buffer.alloc(0);
    let done = false;
    upstream.on('data', (chunk) => {
      if (!cutting || done) return client.write(chunk);
      seen = Buffer.concat([seen, chunk]);
      const at = cutAfter === 'headers' ? seen.indexOf('\r\n\r\n') + 4 : cutAfter;
      if (at < 4 || seen.length < at) return client.write(chunk);
      done = true;
      stats.cuts++;
      client.end(chunk.subarray(0, chunk.length - (seen.length - at)));
      client.destroy();
      upstream.destroy();
    });
    upstream.on('end', () => client.end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stats,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
