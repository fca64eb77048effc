// SPDX-License-Identifier: LGPL-2.1-or-later
// A TCP echo server in JavaScript: Coop.Server.new_tcp_with_callback with an
// async function serving each connection (read_line, write, drain awaited
// in JS), and real TCP clients (Coop streams) talking to it.
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Coop from 'gi://Coop?version=1';
import {check, checkEqual, run} from './harness.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = text => new GLib.Bytes(encoder.encode(text));
const text = data => decoder.decode(data.toArray());

run('server', async loop => {
    const served = [];
    const server = Coop.Server.new_tcp_with_callback(loop, '127.0.0.1', 0, 0, async (srv, stream) => {
        served.push(stream);
        for (;;) {
            const line = await stream.read_line();
            if (line.get_size() === 0)
                return 'eof';   // the client closed its side
            stream.write(bytes(`echo: ${text(line)}`));
            await stream.drain();
        }
    });
    const port = server.get_port();
    check(port > 0, `listening on port ${port}`);
    check(server.is_serving(), 'serving');

    // Two clients at once, each with two lines.
    async function client(name) {
        const stream = await Coop.Stream.open_tcp(loop, '127.0.0.1', port);
        const replies = [];
        for (const word of ['one', 'two']) {
            stream.write(bytes(`${name} ${word}\n`));
            await stream.drain();
            replies.push(text(await stream.read_line()));
        }
        stream.write_eof();
        checkEqual((await stream.read(100)).get_size(), 0, `${name}: the server closed the stream`);
        stream.close();
        return replies;
    }
    const [a, b] = await Promise.all([client('a'), client('b')]);
    checkEqual(a.join('|'), 'echo: a one\n|echo: a two\n', 'client a echoed');
    checkEqual(b.join('|'), 'echo: b one\n|echo: b two\n', 'client b echoed');
    checkEqual(served.length, 2, 'two connections served');

    // Listening where this server listens: the GError, at once.
    try {
        Coop.Server.new_tcp_with_callback(loop, '127.0.0.1', port, 0, () => null).close();
        check(false, 'a second server on the same port fails');
    } catch (e) {
        check(e instanceof GLib.Error && e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.ADDRESS_IN_USE),
            `ADDRESS_IN_USE: ${e}`);
    }

    // A connection still being served: abort_clients cancels its future
    // and wait_closed waits for it to end.
    const idle = await Coop.Stream.open_tcp(loop, '127.0.0.1', port);
    while (server.get_n_connections() === 0)
        await Coop.sleep(loop, 1000);
    server.close();
    check(!server.is_serving(), 'closed: no longer accepting');
    server.abort_clients();
    await server.wait_closed();
    checkEqual(server.get_n_connections(), 0, 'no connection left');
    checkEqual((await idle.read(100)).get_size(), 0, 'the aborted client sees EOF');
    idle.close();

    // A callback that returns nothing is done with the stream: it is closed.
    const quick = Coop.Server.new_tcp_with_callback(loop, '127.0.0.1', 0, 0, (srv, stream) => {
        stream.write(bytes('bye\n'));
    });
    const visitor = await Coop.Stream.open_tcp(loop, '127.0.0.1', quick.get_port());
    checkEqual(text(await visitor.read_line()), 'bye\n', 'written before the close');
    checkEqual((await visitor.read(100)).get_size(), 0, 'then closed');
    visitor.close();
    quick.close();
    await quick.wait_closed();

});
