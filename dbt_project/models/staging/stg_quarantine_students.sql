-- Lines the Spark stage could not salvage, one row per staged line, with the reason.
with source as (

    select * from {{ source('warehouse', 'quarantine_students') }}

),

renamed as (

    select
        raw_line,
        reason,
        detail,
        source_file,
        line_number,
        run_id
    from source

)

select * from renamed
