/**
 * Server frames (JSON text) of protocol v1 and v2 parsed into typed values, and client frames
 * encoded.
 *
 * `parseServerFrame` returns null for anything it does not recognise (a later protocol may add
 * frame types; a client ignores them rather than failing). In protocol v2, positions (`head`,
 * `since`, `caught_up`) are stream positions, and `state` frames carry changes.
 */
const CHANGE_OPS = ["read", "unread", "archive", "unarchive", "retract", "trim"];
const isSeq = (value) => Number.isSafeInteger(value) && value >= 0;
const isText = (value) => typeof value === "string";
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
/** Counts from a frame's `counts` field; null when malformed. */
export function parseCounts(value) {
    if (!isObject(value) || !isSeq(value["unread"]) || !isSeq(value["unarchived"])) {
        return null;
    }
    return { unread: value["unread"], unarchived: value["unarchived"] };
}
/** A notification from a frame or a REST item (same fields, v1 or v2); null when malformed. */
export function parseNotification(fields) {
    const { seq, id, event, data, created_at: createdAt, origin_session: origin } = fields;
    if (!isSeq(seq) || seq < 1 || !isText(id) || !isText(event) || !isObject(data)) {
        return null;
    }
    if (!isText(createdAt) || !(origin === null || origin === undefined || isText(origin))) {
        return null;
    }
    const notification = { seq, id, event, data, createdAt, originSession: origin ?? null };
    if (fields["pos"] === undefined) {
        return notification;
    }
    const { pos, replaces } = fields;
    const counts = parseCounts(fields["counts"]);
    if (!isSeq(pos) || pos < 1 || counts === null || !(replaces === null || isSeq(replaces))) {
        return null;
    }
    return { ...notification, pos, replaces, counts };
}
/** A v2 change from a `state` frame or a REST stream item; null when malformed. */
export function parseChange(fields) {
    const { pos, op, seqs, upto, at } = fields;
    const counts = parseCounts(fields["counts"]);
    if (!isSeq(pos) || pos < 1 || !isText(op) || !CHANGE_OPS.includes(op) || counts === null) {
        return null;
    }
    if (!Array.isArray(seqs) || !seqs.every(isSeq) || !(upto === null || isSeq(upto)) || !isText(at)) {
        return null;
    }
    return { pos, op: op, seqs: seqs, upto, at, counts };
}
function parseBroadcast(fields) {
    const { id, event, data, created_at: createdAt } = fields;
    if (!isText(id) || !isText(event) || !isObject(data) || !isText(createdAt)) {
        return null;
    }
    return { id, event, data, createdAt };
}
function parseWelcome(fields) {
    const { user_id: userId, head, since, recovered, device } = fields;
    if (!isText(userId) || !isSeq(head) || !isSeq(since) || typeof recovered !== "boolean") {
        return null;
    }
    const welcome = { type: "welcome", userId, head, since, recovered, device: isText(device) ? device : "" };
    if (fields["v"] !== 2) {
        return welcome;
    }
    const counts = parseCounts(fields["counts"]);
    const seqHead = fields["seq_head"];
    return counts !== null && isSeq(seqHead) ? { ...welcome, seqHead, counts } : null;
}
/** Parse one text frame from the server; null when it is not a frame this client knows. */
export function parseServerFrame(text) {
    let fields;
    try {
        fields = JSON.parse(text);
    }
    catch {
        return null;
    }
    if (!isObject(fields)) {
        return null;
    }
    switch (fields["type"]) {
        case "welcome":
            return parseWelcome(fields);
        case "notification": {
            const notification = parseNotification(fields);
            return notification && { type: "notification", notification };
        }
        case "state": {
            const change = parseChange(fields);
            return change && { type: "state", change };
        }
        case "caught_up": {
            const position = fields["pos"] ?? fields["seq"];
            return isSeq(position) ? { type: "caught_up", seq: position } : null;
        }
        case "broadcast": {
            const broadcast = parseBroadcast(fields);
            return broadcast && { type: "broadcast", broadcast };
        }
        case "error":
            return isText(fields["code"])
                ? { type: "error", code: fields["code"], message: String(fields["message"] ?? "") }
                : null;
        default:
            return null;
    }
}
/** `{"type":"ack","seq":S}`: acknowledges every seq up to S (v2: `pos`, a stream position). */
export const encodeAck = (seq, protocol = 1) => JSON.stringify(protocol === 2 ? { type: "ack", pos: seq } : { type: "ack", seq });
/** Protocol v2: `{"type":"mark","op":OP,"seqs":[...]}` or `{"type":"mark","op":OP,"upto":S}`. */
export const encodeMark = (op, target) => JSON.stringify({ type: "mark", op, ...target });
/** `{"type":"refresh","token":T}`: extends the connection past the old token's `exp`. */
export const encodeRefresh = (token) => JSON.stringify({ type: "refresh", token });
