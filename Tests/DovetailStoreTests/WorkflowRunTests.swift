import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("Workflows, runs and checkpoints on every backend")
struct WorkflowRunTests {
    func makeWorkflow(_ store: Store, handle: String = "etl") async throws -> Workflow {
        let project = try await store.projects.create(NewProject(name: "P \(UUID().uuidString.prefix(6))"))
        return try await store.workflows.create(NewWorkflow(projectId: project.id, handle: handle))
    }

    @Test(arguments: TestBackend.allCases)
    func handlesAreUniqueAmongActiveWorkflowsOnly(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let first = try await makeWorkflow(store)
            do {
                _ = try await store.workflows.create(NewWorkflow(projectId: first.projectId, handle: "etl"))
                Issue.record("a second active 'etl' must conflict")
            } catch let error as StoreError { #expect(error.kind == .conflict) }
            _ = try await store.workflows.archive(first.id)
            let reused = try await store.workflows.create(NewWorkflow(projectId: first.projectId, handle: "etl"))
            #expect(reused.id != first.id)
            #expect(try await store.workflows.list(projectId: first.projectId).items.map(\.id) == [reused.id])
            #expect(try await store.workflows.list(projectId: first.projectId, includeArchived: true).items.count == 2)
        }
    }

    /// 20 publishers at once: versions 1…20, no duplicate, no gap.
    @Test(arguments: TestBackend.allCases)
    func concurrentPublishesGetConsecutiveVersions(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let workflow = try await makeWorkflow(store)
            let versions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<20 {
                    group.addTask { try await store.workflows.publish(workflowId: workflow.id, definition: .object(["n": .integer(Int64(index))])).version }
                }
                var all: [Int64] = []
                for try await version in group { all.append(version) }
                return all
            }
            #expect(versions.sorted() == Array(1...20))
            let stored = try await store.workflows.versions(workflowId: workflow.id)
            #expect(stored.map(\.version) == Array(1...20))
            let seventh = try await store.workflows.version(workflowId: workflow.id, version: 7)
            #expect(stored[6] == seventh)
            #expect(try await store.workflows.get(workflow.id).latestVersion == 20)
            await #expect(throws: StoreError.self) { try await store.workflows.version(workflowId: workflow.id, version: 21) }
        }
    }

    /// 8 workers claiming at once over 100 runs: every run claimed exactly once, none left pending.
    @Test(arguments: TestBackend.allCases)
    func eightWorkersNeverShareARunAndSkipNone(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let workflow = try await makeWorkflow(store)
            _ = try await store.workflows.publish(workflowId: workflow.id, definition: nil)
            var started: [String] = []
            for index in 0..<100 { started.append(try await store.runs.start(NewRun(workflowId: workflow.id, inputs: .object(["i": .integer(Int64(index))]))).id) }
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var mine: [String] = []
                        while let run = try await store.runs.claim(workerId: "worker-\(worker)", leaseSeconds: 60) {
                            #expect(run.workerId == "worker-\(worker)")
                            mine.append(run.id)
                        }
                        return mine
                    }
                }
                var all: [[String]] = []
                for try await claimed in group { all.append(claimed) }
                return all
            }
            let claimed = claims.flatMap { $0 }
            #expect(claimed.count == 100)
            #expect(Set(claimed) == Set(started))
            #expect(try await store.runs.list(RunFilter(status: .pending)).items.isEmpty)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func expiredLeasesAreClaimedAgainAndRunsFinishOnce(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let workflow = try await makeWorkflow(store)
            _ = try await store.workflows.publish(workflowId: workflow.id, definition: .object(["steps": .integer(2)]))
            let run = try await store.runs.start(NewRun(workflowId: workflow.id, inputs: .object(["q": .string("x")])))
            let now = Timestamp.now()
            let first = try #require(try await store.runs.claim(workerId: "a", leaseSeconds: 30, now: now))
            #expect(first.id == run.id)
            #expect(try await store.runs.claim(workerId: "b", leaseSeconds: 30, now: now.adding(seconds: 10)) == nil)
            let second = try #require(try await store.runs.claim(workerId: "b", leaseSeconds: 30, now: now.adding(seconds: 31)))
            #expect(second.id == run.id)
            #expect(second.workerId == "b")
            #expect(second.attempts == 2)

            _ = try await store.runs.appendStep(runId: run.id, NewRunStep(stepIndex: 0, name: "fetch", status: .succeeded, inputTokens: 10, outputTokens: 20))
            _ = try await store.runs.appendStep(runId: run.id, NewRunStep(stepIndex: 1, name: "write", status: .succeeded, inputTokens: 5, outputTokens: 7))
            do {
                _ = try await store.runs.appendStep(runId: run.id, NewRunStep(stepIndex: 1, name: "again", status: .failed))
                Issue.record("a repeated step index must conflict")
            } catch let error as StoreError { #expect(error.kind == .conflict) }
            let steps = try await store.runs.steps(runId: run.id)
            #expect(steps.map(\.stepIndex) == [0, 1])
            #expect(steps.map(\.outputTokens).reduce(0, +) == 27)

            let finished = try await store.runs.finish(runId: run.id, RunCompletion(status: .succeeded, outputs: .object(["rows": .integer(3)])))
            #expect(finished.status == .succeeded)
            #expect(finished.outputs == .object(["rows": .integer(3)]))
            do {
                _ = try await store.runs.finish(runId: run.id, RunCompletion(status: .failed, error: "late"))
                Issue.record("finishing twice must conflict")
            } catch let error as StoreError { #expect(error.kind == .conflict) }
            #expect(try await store.runs.claim(workerId: "c", leaseSeconds: 30, now: now.adding(seconds: 1000)) == nil)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func historyIsNewestFirstAndFilters(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let workflow = try await makeWorkflow(store)
            _ = try await store.workflows.publish(workflowId: workflow.id, definition: nil)
            var ids: [String] = []
            for index in 0..<5 {
                let metadata: JSONValue = .object(["env": .string(index.isMultiple(of: 2) ? "prod" : "dev"), "n": .integer(Int64(index)), "ok": .bool(index < 3)])
                ids.append(try await store.runs.start(NewRun(workflowId: workflow.id, metadata: metadata)).id)
            }
            #expect(try await store.runs.list(RunFilter(workflowId: workflow.id), PageRequest(limit: 3)).items.map(\.id) == Array(ids.reversed().prefix(3)))
            let prod = try await store.runs.list(RunFilter(metadata: try MetadataFilter.parse(#"{"env":"prod"}"#))).items.map(\.id)
            #expect(prod == [ids[4], ids[2], ids[0]])
            let both = try await store.runs.list(RunFilter(metadata: try MetadataFilter.parse(#"{"env":"prod","ok":true}"#))).items.map(\.id)
            #expect(both == [ids[2], ids[0]])
            let number = try await store.runs.list(RunFilter(metadata: try MetadataFilter.parse(#"{"n":3}"#))).items.map(\.id)
            #expect(number == [ids[3]])
            #expect(try await store.runs.list(RunFilter(metadata: try MetadataFilter.parse(#"{"ok":1}"#))).items.isEmpty)
            let future = Timestamp.now().adding(seconds: 60)
            #expect(try await store.runs.list(RunFilter(createdAfter: future)).items.isEmpty)
            #expect(try await store.runs.list(RunFilter(createdBefore: future)).items.count == 5)
            #expect(throws: StoreError.self) { try MetadataFilter.parse(#"{"nested":{"a":1}}"#) }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func onlyOneBestCheckpointPerWorkflow(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let workflow = try await makeWorkflow(store)
            let first = try await store.checkpoints.save(workflowId: workflow.id, NewCheckpoint(configVersion: "v1", metrics: .object(["loss": .number(0.5)]), isBest: true))
            let second = try await store.checkpoints.save(workflowId: workflow.id, NewCheckpoint(configVersion: "v2", metrics: .object(["loss": .number(0.3)])))
            #expect(try await store.checkpoints.best(workflowId: workflow.id)?.id == first.id)
            _ = try await store.checkpoints.markBest(second.id)
            #expect(try await store.checkpoints.best(workflowId: workflow.id)?.id == second.id)
            #expect(try await store.checkpoints.latest(workflowId: workflow.id).map(\.id) == [second.id, first.id])
            // The database itself refuses a second best, whatever the code does.
            do {
                try await store.database.write { sql in
                    try await sql.raw("UPDATE checkpoints SET is_best = \(bind: true) WHERE id = \(bind: first.id)").run()
                }
                Issue.record("the partial unique index must refuse two best checkpoints")
            } catch let error as StoreError { #expect(error.kind == .conflict) }
        }
    }
}
