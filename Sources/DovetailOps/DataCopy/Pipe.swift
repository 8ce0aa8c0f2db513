/// A bounded hand-off between one producing and one consuming task: the producer reads the next batch
/// while the consumer writes the previous one, and waits once `capacity` batches are queued, so memory
/// holds at most `capacity + 2` batches whatever the table size.
///
/// Neither side relies on task cancellation to wake the other: the producer ends with `finish(throwing:)`,
/// the consumer that gives up calls `close()`, and every waiter is resumed by those calls.
actor Pipe<Element: Sendable> {
    private let capacity: Int
    private var buffer: [Element] = []
    private var finished = false
    private var failure: (any Error)?
    private var closed = false
    private var receiver: CheckedContinuation<Element?, any Error>?
    private var senders: [CheckedContinuation<Void, any Error>] = []

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Queues `element`, waiting while the queue is full; throws `CancellationError` once the consumer closed.
    func send(_ element: Element) async throws {
        while true {
            if closed { throw CancellationError() }
            if let receiver {
                self.receiver = nil
                receiver.resume(returning: element)
                return
            }
            if buffer.count < capacity {
                buffer.append(element)
                return
            }
            try await withCheckedThrowingContinuation { senders.append($0) }
        }
    }

    /// The next element; nil once the producer finished and everything was taken.
    func receive() async throws -> Element? {
        if !buffer.isEmpty {
            let element = buffer.removeFirst()
            if !senders.isEmpty { senders.removeFirst().resume() }
            return element
        }
        if let failure { throw failure }
        if finished { return nil }
        return try await withCheckedThrowingContinuation { receiver = $0 }
    }

    /// Called by the producer when it is done, with its error if it failed.
    func finish(throwing error: (any Error)? = nil) {
        finished = true
        failure = error
        if let receiver {
            self.receiver = nil
            if let error {
                receiver.resume(throwing: error)
            } else {
                receiver.resume(returning: nil)
            }
        }
    }

    /// Called by the consumer when it stops early: the producer's pending and later sends throw.
    func close() {
        closed = true
        buffer.removeAll()
        for sender in senders { sender.resume(throwing: CancellationError()) }
        senders.removeAll()
    }
}

/// Runs `produce` and `consume` concurrently, connected by a `Pipe`, and returns what `produce` returned.
/// The first real error wins over the `CancellationError` the other side sees when its partner stops.
func pipeline<Element: Sendable, Result: Sendable>(
    capacity: Int,
    produce: @escaping @Sendable (_ send: @Sendable (Element) async throws -> Void) async throws -> Result,
    consume: @escaping @Sendable (_ receive: @Sendable () async throws -> Element?) async throws -> Void
) async throws -> Result {
    let pipe = Pipe<Element>(capacity: capacity)
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            do {
                let result = try await produce { element in try await pipe.send(element) }
                await pipe.finish()
                return result
            } catch {
                await pipe.finish(throwing: error)
                throw error
            }
        }
        group.addTask {
            do {
                try await consume { try await pipe.receive() }
                await pipe.close()
                return nil
            } catch {
                await pipe.close()
                throw error
            }
        }
        var result: Result?
        var firstError: (any Error)?
        while let outcome = await group.nextResult() {
            switch outcome {
            case .success(let value):
                if let value { result = value }
            case .failure(let error):
                if firstError == nil || (firstError is CancellationError && !(error is CancellationError)) {
                    firstError = error
                }
            }
        }
        if let firstError { throw firstError }
        guard let result else { throw CancellationError() }
        return result
    }
}
