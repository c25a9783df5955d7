-- One row per Spark normalization run.
with source as (

    select * from {{ source('warehouse', 'pipeline_runs') }}

),

renamed as (

    select
        run_id,
        started_at,
        finished_at,
        lines_read,
        clean_count,
        quarantined_count,
        duplicates_removed,
        staging_files,
        status,
        mode,
        headers_skipped
    from source

)

select * from renamed
