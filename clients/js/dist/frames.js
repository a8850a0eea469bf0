/**
 * Protocol v1 server frames (JSON text) parsed into typed values, and client frames encoded.
 *
 * `parseServerFrame` returns null for anything it does not recognise (a later protocol may add
 * frame types; a client ignores them rather than failing).
 */
const isSeq = (value) => Number.isSafeInteger(value) && value >= 0;
const isText = (value) => typeof value === "string";
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
/** A notification from a frame or a REST item (same fields); null when malformed. */
export function parseNotification(fields) {
    const { seq, id, event, data, created_at: createdAt, origin_session: origin } = fields;
    if (!isSeq(seq) || seq < 1 || !isText(id) || !isText(event) || !isObject(data)) {
        return null;
    }
    if (!isText(createdAt) || !(origin === null || origin === undefined || isText(origin))) {
        return null;
    }
    return { seq, id, event, data, createdAt, originSession: origin ?? null };
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
    return { type: "welcome", userId, head, since, recovered, device: isText(device) ? device : "" };
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
        case "caught_up":
            return isSeq(fields["seq"]) ? { type: "caught_up", seq: fields["seq"] } : null;
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
/** `{"type":"ack","seq":S}`: acknowledges every seq up to S. */
export const encodeAck = (seq) => JSON.stringify({ type: "ack", seq });
/** `{"type":"refresh","token":T}`: extends the connection past the old token's `exp`. */
export const encodeRefresh = (token) => JSON.stringify({ type: "refresh", token });
